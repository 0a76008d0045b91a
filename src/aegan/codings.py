"""What a finished autoencoder run gives for data: codings, reconstructions, and their figures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from aegan.errors import AeganError
from aegan.plots import plot_codings_2d, plot_series_reconstructions
from aegan.plots import plot_reconstructions as _plot_image_reconstructions
from aegan.runs import Run


def as_run(run) -> Run:
    return run if isinstance(run, Run) else Run(run)


def _display(run: Run, samples: np.ndarray) -> np.ndarray:
    """Images in [0, 1] for a figure: uint8 divided by 255; standardised data mapped from its range."""
    if run.spec.scaling == "divide_255":
        return samples / 255.0 if samples.dtype == np.uint8 else samples
    low, high = run.spec.value_range
    return (np.asarray(samples, dtype=np.float32) - low) / max(high - low, 1e-12)


def shown_samples(split, n: int) -> np.ndarray:
    """Indices of `n` samples of a split to draw: one of each class in turn when there are labels
    (a folder of class subfolders is read in sorted order), else spread over the split."""
    count = min(n, len(split))
    if split.labels is None:
        return np.unique(np.linspace(0, len(split) - 1, count).round().astype(np.int64))
    labels = np.asarray(split.labels)
    queues = [np.flatnonzero(labels == c).tolist() for c in np.unique(labels)]
    chosen: list[int] = []
    while len(chosen) < count:
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return np.array(chosen, dtype=np.int64)


def plot_reconstructions(run, path: str | os.PathLike | None = None, n: int = 5, noise: bool = False,
                         seed: int = 0) -> Path:
    """Draw `n` validation samples (one per class in turn) above their reconstructions (tables and sequences:
    original and reconstruction as lines).

    With `noise`, a denoising run's own training noise is applied first and the figure shows
    originals, noisy inputs and the model's denoised outputs.
    """
    run = as_run(run)
    run._require("reconstruct", "reconstruct")
    noise_layer = getattr(run.model, "noise", None)
    if noise and (noise_layer is None or noise_layer.kind == "none" or noise_layer.level == 0):
        raise AeganError(f"{run.path} was trained without input noise: --noise needs a denoising run "
                         "(e.g. presets denoising_gaussian_ae, denoising_dropout_ae)")
    if n < 1:
        raise AeganError(f"n={n}: expected at least 1 sample")
    valid = run.splits().valid
    originals = np.asarray(valid.samples[shown_samples(valid, n)])
    out = path or run.path / ("denoising.png" if noise else "reconstructions.png")
    if not run.spec.is_image:
        return plot_series_reconstructions({"original": run.spec.from_model(run.to_model(originals)).numpy(),
                                            "reconstruction": run.reconstruct(originals)}, out,
                                           feature_names=run.spec.feature_names)
    if not noise:
        return _plot_image_reconstructions({"original": _display(run, originals),
                                            "reconstruction": _display(run, run.reconstruct(originals))}, out)
    torch.manual_seed(seed)
    model_inputs = run.to_model(originals)
    noisy = noise_layer.train()(model_inputs.flatten(1)).view(model_inputs.shape)
    noise_layer.eval()
    noisy_units = run.spec.from_model(noisy).numpy()
    label = f"{noise_layer.kind} noise {noise_layer.level:g}"
    with torch.no_grad():
        denoised = run.spec.from_model(run.model(noisy)).numpy()
    return _plot_image_reconstructions({"original": _display(run, originals), label: _display(run, noisy_units),
                                        "denoised": _display(run, denoised)}, out)


def encode(run, split: str = "valid") -> tuple[np.ndarray, np.ndarray | None]:
    """(codings, labels) of one split of the run's data (labels None when the data has none)."""
    run = as_run(run)
    chosen = run.splits().split(split)
    return run.encode(chosen.samples), chosen.labels


MAP_METHODS = ("tsne", "umap")


def map_to_2d(codings: np.ndarray, method: str = "tsne", seed: int = 42) -> np.ndarray:
    """The codings (N, D) laid out in 2-D: t-SNE (scikit-learn) or UMAP (umap-learn, `pip install 'aegan[umap]'`)."""
    codings = codings.reshape(len(codings), -1).astype(np.float32)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(n_components=2, init="pca", learning_rate="auto", random_state=seed,
                    perplexity=min(30.0, max(2.0, (len(codings) - 1) / 3))).fit_transform(codings)
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise AeganError("the umap map needs the umap-learn package: pip install 'aegan[umap]' "
                             "(or draw the t-SNE map: --method tsne)") from None
        neighbours = max(2, min(15, len(codings) - 1))
        return umap.UMAP(n_components=2, n_neighbors=neighbours, random_state=seed,
                         n_jobs=1).fit_transform(codings)
    raise AeganError(f"method={method!r}: expected one of {', '.join(MAP_METHODS)}")


def plot_codings(codings: np.ndarray, labels: np.ndarray | None, path: str | os.PathLike,
                 max_points: int = 5000, seed: int = 42, title: str = "", class_names=None,
                 method: str = "tsne") -> Path:
    """The codings mapped to 2-D by t-SNE or UMAP (`method`; as they are when already 2-D), coloured by class."""
    if method not in MAP_METHODS:
        raise AeganError(f"method={method!r}: expected one of {', '.join(MAP_METHODS)}")
    if len(codings) > max_points:
        keep = np.random.default_rng(seed).choice(len(codings), max_points, replace=False)
        codings, labels = codings[keep], None if labels is None else labels[keep]
    points = codings if codings.shape[1] == 2 else map_to_2d(codings, method, seed)
    if class_names is None and labels is not None:
        class_names = tuple(str(i) for i in range(int(labels.max()) + 1))
    name = {"tsne": "t-SNE", "umap": "UMAP"}[method]
    title = title or (f"{name} of {codings.shape[1]}-D codings" if codings.shape[1] != 2 else "2-D codings")
    return plot_codings_2d(points, labels, class_names if labels is not None else (), path, title)

