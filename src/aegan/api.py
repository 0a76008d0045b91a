"""The Python API: train a preset, then look at what the run learned.

    import aegan
    run = aegan.train("stacked_ae", epochs=1, out="runs/example")
    aegan.plot_reconstructions(run, "runs/example/reconstructions.png")
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from aegan.config import load_config
from aegan.data import CLASS_NAMES, load_fashion_mnist
from aegan.errors import AeganError
from aegan.files import atomic_write_json
from aegan.models import build_model
from aegan.plots import plot_codings_2d, plot_reconstructions as _plot_reconstructions
from aegan.runs import CONFIG_FILE, Run, images_to_tensor, prepare_run_dir
from aegan.runtime import configure_threads, seed_everything, select_device
from aegan.training import evaluate_reconstruction, train_autoencoder


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def train(preset: str, *, out: str | os.PathLike | None = None, epochs: int | None = None,
          batch_size: int | None = None, seed: int | None = None, overrides: dict | None = None,
          data_dir: str | None = None, progress: bool = True, log=_log) -> Run:
    """Train a preset (or TOML file) on Fashion-MNIST into a new run folder; return the Run."""
    overrides = dict(overrides or {})
    for key, value in (("training.num_epochs", epochs), ("training.batch_size", batch_size),
                       ("training.seed", seed), ("data.data_dir", data_dir)):
        if value is not None:
            overrides[key] = value
    config = load_config(preset, overrides)
    out = Path(out) if out else Path("runs") / f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    data = load_fashion_mnist(config.data.data_dir or None)  # before the folder: no data, no folder
    run_dir = prepare_run_dir(out)
    atomic_write_json(run_dir / CONFIG_FILE, config.to_dict())

    configure_threads(config.training.num_threads)
    device = select_device(config.training.device)
    shuffle = seed_everything(config.training.seed)
    model = build_model(config.model).to(device)
    train_images = images_to_tensor(data.train_images, device)
    valid_images = images_to_tensor(data.valid_images, device)
    log(f"training {config.name} on {len(train_images):,} images from {data.source} "
        f"({device}, {torch.get_num_threads()} threads) into {run_dir}")
    train_autoencoder(model, config, train_images, valid_images, run_dir, shuffle,
                      progress=progress, log=log)
    test = evaluate_reconstruction(model, images_to_tensor(data.test_images, device))
    atomic_write_json(run_dir / "test.json", test)
    log(f"test loss {test['loss']:.4f}  test rounded_accuracy {test['rounded_accuracy']:.4f}")
    return Run(run_dir)


def _as_run(run) -> Run:
    return run if isinstance(run, Run) else Run(run)


def plot_reconstructions(run, path: str | os.PathLike | None = None, n: int = 5) -> Path:
    """Draw the first `n` validation images above their reconstructions."""
    run = _as_run(run)
    if n < 1:
        raise AeganError(f"n={n}: expected at least 1 image")
    images, _ = load_fashion_mnist(run.config.data.data_dir or None).split("valid")
    originals = images[:n].astype(np.float32) / 255.0
    return _plot_reconstructions(originals, run.reconstruct(originals),
                                 path or run.path / "reconstructions.png")


def encode(run, split: str = "valid") -> tuple[np.ndarray, np.ndarray]:
    """(codings, labels) of one Fashion-MNIST split."""
    run = _as_run(run)
    images, labels = load_fashion_mnist(run.config.data.data_dir or None).split(split)
    return run.encode(images), labels


def plot_codings(codings: np.ndarray, labels: np.ndarray, path: str | os.PathLike,
                 max_points: int = 5000, seed: int = 42, title: str = "") -> Path:
    """t-SNE of the codings to 2-D (as they are when already 2-D), coloured by class."""
    if len(codings) > max_points:
        keep = np.random.default_rng(seed).choice(len(codings), max_points, replace=False)
        codings, labels = codings[keep], labels[keep]
    if codings.shape[1] == 2:
        points = codings
    else:
        from sklearn.manifold import TSNE

        points = TSNE(n_components=2, init="pca", learning_rate="auto", random_state=seed).fit_transform(
            codings.astype(np.float32))
    return plot_codings_2d(points, labels, CLASS_NAMES, path, title or f"t-SNE of {codings.shape[1]}-D codings")
