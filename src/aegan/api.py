"""The Python API: train a preset, then look at what the run learned.

    import aegan
    run = aegan.train("stacked_ae", epochs=1, out="runs/example")
    aegan.plot_reconstructions(run, "runs/example/reconstructions.png")
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from aegan.config import load_config
from aegan.data import CLASS_NAMES
from aegan.data.datasets import load_splits
from aegan.errors import AeganError
from aegan.files import atomic_write_json
from aegan.evaluation import (
    compare_with_pca,
    generative_metrics,
    is_linear_autoencoder,
    plot_activation_histograms,
    representation_report,
    sparsity_report,
    vae_report,
)
from aegan.models import GAN, MODEL_KINDS, ConvVariationalAutoencoder, VariationalAutoencoder, build_model, can_sample
from aegan.plots import plot_codings_2d, plot_image_grid
from aegan.plots import plot_reconstructions as _plot_reconstructions
from aegan.runs import CONFIG_FILE, Run, images_to_tensor, prepare_run_dir
from aegan.runtime import configure_threads, seed_everything, select_device
from aegan.training import evaluate_reconstruction, train_autoencoder
from aegan.training.gan import train_gan
from aegan.training.greedy import greedy_pretrain


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
    splits = load_splits(config.data, config.training.seed)  # before the folder: no data, no folder
    check_input_shape(config, splits.train)
    check_gan_batch_size(config, len(splits.train))
    run_dir = prepare_run_dir(out)
    atomic_write_json(run_dir / CONFIG_FILE, config.to_dict())

    configure_threads(config.training.num_threads)
    device = select_device(config.training.device)
    shuffle = seed_everything(config.training.seed)
    model = build_model(config.model).to(device)
    train_images = images_to_tensor(splits.train, device)
    valid_images = images_to_tensor(splits.valid, device)
    rounded = config.data.dataset == "fashion_mnist"  # rounded accuracy needs data in [0, 1]
    log(f"training {config.name} on {len(train_images):,} samples from {splits.source} "
        f"({device}, {torch.get_num_threads()} threads) into {run_dir}")
    if isinstance(model, GAN):
        labels = None if not model.config.num_classes else torch.as_tensor(splits.train_labels.astype(np.int64),
                                                                          device=device)
        train_gan(model, config, train_images, labels, run_dir, shuffle, progress=progress, log=log)
        return Run(run_dir)
    if config.training.pretrain_epochs:
        greedy_pretrain(model, config, train_images, valid_images, run_dir, shuffle, log=log)
    train_autoencoder(model, config, train_images, valid_images, run_dir, shuffle,
                      progress=progress, rounded=rounded, log=log)
    test_images = images_to_tensor(splits.test, device)
    test = evaluate_reconstruction(model, test_images, rounded=rounded)
    if isinstance(model, (VariationalAutoencoder, ConvVariationalAutoencoder)):
        test.update(vae_report(model, test_images, seed=config.training.seed))
        log(f"test negative ELBO {test['negative_elbo_nats']:.1f} nats per image, "
            f"{test['active_units']}/{test['coding_size']} active units")
    atomic_write_json(run_dir / "test.json", test)
    log(f"test loss {test['loss']:.4f}" + (f"  test rounded_accuracy {test['rounded_accuracy']:.4f}"
                                           if rounded else ""))
    return Run(run_dir)


def check_input_shape(config, samples: np.ndarray) -> None:
    """The model's input_shape must be the data's sample shape."""
    expected = tuple(getattr(config.model, "input_shape", samples.shape[1:]))
    if math.prod(expected) != math.prod(samples.shape[1:]) or (
            config.model.kind == "recurrent_ae" and expected != samples.shape[1:]):
        shape = "[" + ",".join(str(size) for size in samples.shape[1:]) + "]"
        raise AeganError(f"model.input_shape={list(expected)} does not match the data's samples of shape "
                         f"{shape}: --set model.input_shape={shape}")


def check_gan_batch_size(config, samples: int) -> None:
    """A GAN trains on whole batches only (as the seed's dataset does), so it needs one at least."""
    if issubclass(MODEL_KINDS[config.model.kind][1], GAN) and config.training.batch_size > samples:
        raise AeganError(f"training.batch_size={config.training.batch_size} is more than the {samples:,} training "
                         f"samples, and a GAN trains on whole batches only: use --batch-size {samples} or less")


def _as_run(run) -> Run:
    return run if isinstance(run, Run) else Run(run)


def plot_reconstructions(run, path: str | os.PathLike | None = None, n: int = 5, noise: bool = False,
                         seed: int = 0) -> Path:
    """Draw the first `n` validation images above their reconstructions.

    With `noise`, a denoising run's own training noise is applied first and the figure shows
    originals, noisy inputs and the model's denoised outputs.
    """
    run = _as_run(run)
    noise_layer = getattr(run.model, "noise", None)
    if noise and (noise_layer is None or noise_layer.kind == "none" or noise_layer.level == 0):
        raise AeganError(f"{run.path} was trained without input noise: --noise needs a denoising run "
                         "(e.g. presets denoising_gaussian_ae, denoising_dropout_ae)")
    if n < 1:
        raise AeganError(f"n={n}: expected at least 1 image")
    images, _ = load_splits(run.config.data, run.config.training.seed).split("valid")
    if images.ndim != 3:
        raise AeganError(f"{run.path} holds samples of shape {list(images.shape[1:])}, not images: "
                         "`aegan encode` gives their codings instead")
    originals = images_to_tensor(images[:n]).numpy()
    if not noise:
        return _plot_reconstructions({"original": originals, "reconstruction": run.reconstruct(originals)},
                                     path or run.path / "reconstructions.png")
    torch.manual_seed(seed)
    noisy = noise_layer.train()(torch.from_numpy(originals).flatten(1)).view(originals.shape).numpy()
    noise_layer.eval()
    label = f"{noise_layer.kind} noise {noise_layer.level:g}"
    return _plot_reconstructions({"original": originals, label: noisy, "denoised": run.reconstruct(noisy)},
                                 path or run.path / "denoising.png")


def encode(run, split: str = "valid") -> tuple[np.ndarray, np.ndarray]:
    """(codings, labels) of one Fashion-MNIST split."""
    run = _as_run(run)
    images, labels = load_splits(run.config.data, run.config.training.seed).split(split)
    return run.encode(images), labels


def plot_codings(codings: np.ndarray, labels: np.ndarray | None, path: str | os.PathLike,
                 max_points: int = 5000, seed: int = 42, title: str = "") -> Path:
    """t-SNE of the codings to 2-D (as they are when already 2-D), coloured by class."""
    if len(codings) > max_points:
        keep = np.random.default_rng(seed).choice(len(codings), max_points, replace=False)
        codings, labels = codings[keep], None if labels is None else labels[keep]
    if codings.shape[1] == 2:
        points = codings
    else:
        from sklearn.manifold import TSNE

        points = TSNE(n_components=2, init="pca", learning_rate="auto", random_state=seed).fit_transform(
            codings.astype(np.float32))
    title = title or (f"t-SNE of {codings.shape[1]}-D codings" if codings.shape[1] != 2 else "2-D codings")
    return plot_codings_2d(points, labels, CLASS_NAMES if labels is not None else (), path, title)


def _require_sampling(run: Run, command: str) -> None:
    if not can_sample(run.model):
        raise AeganError(
            f"{run.path} is a {run.config.model.kind} run, which cannot {command} new images "
            "(only VAE and GAN runs can): use `aegan reconstruct` or `aegan encode` on it instead"
        )


def sample(run, n: int = 12, seed: int = 0, label: int | None = None) -> np.ndarray:
    """`n` new images (n, 28, 28) in [0, 1] from the prior; needs only the run's checkpoint.

    `label` picks the class of a conditional GAN's images.
    """
    run = _as_run(run)
    _require_sampling(run, "sample")
    if n < 1:
        raise AeganError(f"n={n}: expected at least 1 image")
    classes = getattr(run.model.config, "num_classes", 0)
    if label is not None and not classes:
        raise AeganError(f"--label {label}: {run.path} is not a conditional model; drop --label or train cgan")
    if label is not None and not 0 <= label < classes:
        raise AeganError(f"--label {label}: expected a class from 0 to {classes - 1}")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if classes:
            return run.model.sample(n, generator=generator, labels=label).numpy()
        return run.model.sample(n, generator=generator).numpy()


def plot_samples(run, path: str | os.PathLike | None = None, n: int = 12, seed: int = 0,
                 label: int | None = None) -> Path:
    run = _as_run(run)
    images = sample(run, n, seed, label)
    what = f" of class {label} ({CLASS_NAMES[label]})" if label is not None and label < len(CLASS_NAMES) else ""
    return plot_image_grid(images[:, None], path or run.path / "samples.png",
                           title=f"{run.config.name}: {n} samples{what} (seed {seed})")


def interpolate(run, steps: int = 9, pairs: int = 4, seed: int = 0, images=None) -> np.ndarray:
    """Rows of decoded codings moving in `steps` from one end to the other: (rows, steps, 28, 28).

    With `images` (uint8 or [0, 1], an even number of them), each row goes from one image's
    codings (posterior mean) to the next one's; without, between random codings of the prior.
    """
    run = _as_run(run)
    _require_sampling(run, "interpolate between")
    if steps < 2:
        raise AeganError(f"steps={steps}: expected at least 2")
    generator = torch.Generator().manual_seed(seed)
    labels = None
    with torch.no_grad():
        if images is not None:
            if isinstance(run.model, GAN):
                raise AeganError("a GAN has no encoder: interpolate between random codings (no images)")
            codings = run.model.encode(images_to_tensor(images))[0]
            starts, ends = codings[0::2], codings[1::2]
        else:
            starts = torch.randn(pairs, run.model.config.coding_size, generator=generator)
            ends = torch.randn(pairs, run.model.config.coding_size, generator=generator)
        weights = torch.linspace(0, 1, steps)[None, :, None]
        path = starts[:, None] * (1 - weights) + ends[:, None] * weights
        if getattr(run.model.config, "num_classes", 0):  # a conditional GAN: one class per row
            labels = run.model.random_labels(len(starts), generator).repeat_interleave(steps)
        run.model.eval()
        decoded = (run.model.decode(path.reshape(-1, path.shape[-1]), labels) if labels is not None
                   else run.model.decode(path.reshape(-1, path.shape[-1])))
    return decoded.reshape(len(starts), steps, *decoded.shape[1:]).numpy()


def plot_interpolations(run, path: str | os.PathLike | None = None, steps: int = 9, pairs: int = 4,
                        seed: int = 0) -> Path:
    """Rows from one validation image to another (first half) and between random codings (second)."""
    run = _as_run(run)
    rows = []
    image_pairs = 0 if isinstance(run.model, GAN) else pairs - pairs // 2
    try:
        images, _ = load_splits(run.config.data, run.config.training.seed).split("valid")
        if image_pairs:
            rows.append(interpolate(run, steps, images=images[: 2 * image_pairs], seed=seed))
    except AeganError:  # no data set here: random codings only
        image_pairs = 0
    rows.append(interpolate(run, steps, pairs=pairs - image_pairs, seed=seed))
    grid = np.concatenate(rows)
    return plot_image_grid(grid, path or run.path / "interpolations.png",
                           title=f"{run.config.name}: interpolation in coding space")


_FLOORS: dict = {}


def generative_report(run, n: int = 10000, log=_log) -> dict:
    """Metrics of `n` samples against the test set in the feature space of aegan's own classifier,
    each with its floor: the same metric for the test images against as many training images."""
    from aegan.data import load_fashion_mnist
    from aegan.evaluation.classifier import load_feature_classifier, predict

    data = load_fashion_mnist(run.config.data.data_dir or None)
    classifier, info = load_feature_classifier(data, log=log)
    count = min(n, len(data.test_images))
    test_features, test_probabilities = predict(classifier, images_to_tensor(data.test_images[:count]))
    train_features, train_probabilities = predict(classifier, images_to_tensor(data.train_images[:count]))
    fake_features, fake_probabilities = predict(classifier, torch.from_numpy(sample(run, n, seed=0)))
    test_classes = data.test_labels[:count]
    result = generative_metrics(test_features.numpy(), test_classes, fake_features.numpy(),
                                fake_probabilities.numpy(), test_classes)
    key = (info["weights_sha256"], count)
    if key not in _FLOORS:  # depends on the data and the classifier only: once per process
        _FLOORS[key] = generative_metrics(test_features.numpy(), test_classes, train_features.numpy(),
                                          train_probabilities.numpy(), test_classes)
    floor = _FLOORS[key]
    report = {"samples": n, "feature_classifier_test_accuracy": info["test_accuracy"],
              "feature_classifier_recipe": info["recipe"]}
    for key, value in result.items():
        report[key] = value
        if key != "class_histogram":
            report[f"{key}_floor"] = floor[key]
    return report


def evaluate(run, split: str = "test", n: int = 10000) -> dict:
    """What applies to the run, on one split; written to RUN/evaluation.json.

    Always the loss (and its parts); a linear autoencoder: the comparison with PCA fitted on
    the training split; a sigmoid coding layer: its sparsity, with RUN/coding-activations.png;
    a run that encodes Fashion-MNIST: linear-probe and 5-NN accuracy of its codings (fitted on
    the training split) next to PCA's with as many components, and the trustworthiness of the
    t-SNE map; a VAE: the negative ELBO and active units; a run that samples (VAE, GAN) on
    Fashion-MNIST: the generative metrics of `n` samples, each with its floor.
    """
    run = _as_run(run)
    if isinstance(run.model, GAN):
        result = {"run": str(run.path), "preset": run.config.name, "epoch": run.epoch}
        result.update(generative_report(run, n))
        atomic_write_json(run.path / "evaluation.json", result)
        return result
    splits = load_splits(run.config.data, run.config.training.seed)
    data, labels = splits.split(split)
    x = images_to_tensor(data)
    model = run.model
    result: dict = {"run": str(run.path), "preset": run.config.name, "split": split, "epoch": run.epoch}
    with torch.no_grad():
        terms = {k: 0.0 for k in model.loss_terms(x[:2])}
        for start in range(0, len(x), 2500):
            batch = x[start:start + 2500]
            for key, value in model.loss_terms(batch).items():
                terms[key] += value.item() * len(batch) / len(x)
    result.update({f"{key}_loss" if key != "loss" else "loss": value for key, value in terms.items()})
    result["parameters"] = sum(p.numel() for p in model.parameters())
    if is_linear_autoencoder(model):
        result.update(compare_with_pca(model, images_to_tensor(splits.train).numpy(), x.numpy(), run.reconstruct))
    if getattr(model.config, "coding_activation", "") == "sigmoid":
        codings = run.encode(data)
        result.update(sparsity_report(codings))
        plot = plot_activation_histograms(codings, run.path / "coding-activations.png",
                                          title=f"{run.config.name}: coding activations ({split})")
        result["activation_histogram"] = str(plot)
    if run.config.data.dataset == "fashion_mnist":
        train_images, train_labels = splits.split("train")
        _log("representation metrics: linear probe, 5-NN, PCA, t-SNE trustworthiness")
        result.update(representation_report(run.encode(train_images), train_labels, run.encode(data), labels,
                                             images_to_tensor(train_images).numpy(), x.numpy(),
                                             seed=run.config.training.seed))
    if isinstance(model, (VariationalAutoencoder, ConvVariationalAutoencoder)):
        result.update(vae_report(model, x, seed=run.config.training.seed))
        if run.config.data.dataset == "fashion_mnist":
            result.update(generative_report(run, n))
    atomic_write_json(run.path / "evaluation.json", result)
    return result


def pretraining_experiment(run, labels: int = 500, seeds: int = 3, epochs: int = 20, log=_log) -> dict:
    """Few labels: a classifier from scratch against one on the run's trained encoder (frozen,
    then fine-tuned), over `seeds` seeds; written to RUN/pretraining.json."""
    from aegan.evaluation.pretraining import few_label_experiment, summarise

    run = _as_run(run)
    run._require_encoder("train a classifier on")
    if run.config.data.dataset != "fashion_mnist":
        raise AeganError(f"{run.path} was trained on {run.config.data.dataset!r} data, which has no class labels: "
                         "the pretraining experiment needs a Fashion-MNIST run")
    splits = load_splits(run.config.data, run.config.training.seed)
    train_split = splits.split("train")
    if not 10 <= labels <= len(train_split[0]):
        raise AeganError(f"labels={labels}: expected between 10 and {len(train_split[0])} labelled training images")
    results = []
    for seed in range(seeds):
        started = time.perf_counter()
        results.append(few_label_experiment(run.model, run.config.model, train_split, splits.split("valid"),
                                            splits.split("test"), labels=labels, seed=seed, epochs=epochs))
        log(f"seed {seed}: " + ", ".join(f"{key.removesuffix('_test_accuracy')} {value:.4f}"
                                         for key, value in results[-1].items() if key.endswith("_test_accuracy"))
            + f" (test accuracy; {time.perf_counter() - started:.0f} s)")
    report = {"run": str(run.path), "preset": run.config.name, "labels": labels, "epochs_per_phase": epochs,
              "seeds": results, **summarise(results)}
    atomic_write_json(run.path / "pretraining.json", report)
    return report
