"""New samples and interpolations from a run that can generate: they need only its folder.

Everything here reads the run's checkpoint and its data description (data_spec.json): the
sample shape, scaling and class names. Only the interpolation between real samples reads the
run's data, and falls back to random codings when the data is not there.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from aegan.codings import as_run, shown_samples
from aegan.errors import AeganError
from aegan.plots import plot_image_grid, plot_series_reconstructions
from aegan.runs import Run


def _display(run: Run, values: np.ndarray) -> np.ndarray:
    """Samples in the data's units as images in [0, 1] for a figure."""
    if run.spec.unit_range:
        return values
    low, high = run.spec.value_range
    return (values - low) / max(high - low, 1e-12)


def _conditional(run: Run) -> int:
    return int(getattr(run.model.config, "num_classes", 0) or 0)


def sample(run, n: int = 12, seed: int = 0, label: int | None = None) -> np.ndarray:
    """`n` new samples (n, *sample shape) in the data's own units (images of uint8 data in [0, 1]),
    from the prior; needs only the run's folder. `label` picks the class of a conditional GAN."""
    run = as_run(run)
    run._require("sample", "sample new data")
    if n < 1:
        raise AeganError(f"n={n}: expected at least 1 sample")
    classes = _conditional(run)
    if label is not None and not classes:
        raise AeganError(f"--label {label}: {run.path} is not a conditional model; drop --label or train cgan")
    if label is not None and not 0 <= label < classes:
        raise AeganError(f"--label {label}: expected a class from 0 to {classes - 1} "
                         f"({', '.join(run.spec.class_names[:classes])})")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        values = (run.model.sample(n, generator=generator, labels=label) if classes
                  else run.model.sample(n, generator=generator))
        return run.spec.from_model(values).numpy()


def plot_samples(run, path: str | os.PathLike | None = None, n: int = 12, seed: int = 0,
                 label: int | None = None) -> Path:
    run = as_run(run)
    values = sample(run, n, seed, label)
    what = f" of class {label} ({run.spec.class_names[label]})" if label is not None else ""
    out = path or run.path / "samples.png"
    if not run.spec.is_image:
        return plot_series_reconstructions({"sample": values}, out, feature_names=run.spec.feature_names)
    return plot_image_grid(_display(run, values), out, title=f"{run.config.name}: {n} samples{what} (seed {seed})")


def interpolate(run, steps: int = 9, pairs: int = 4, seed: int = 0, samples=None) -> np.ndarray:
    """Rows of decoded codings moving in `steps` from one end to the other: (rows, steps, *sample shape),
    in the data's own units.

    With `samples` (as stored, an even number of them), each row goes from one sample's codings
    (a VAE: the posterior mean) to the next one's; without, between random codings of the prior.
    """
    run = as_run(run)
    run._require("interpolate", "interpolate")
    if steps < 2:
        raise AeganError(f"steps={steps}: expected at least 2")
    generator = torch.Generator().manual_seed(seed)
    labels = None
    with torch.no_grad():
        if samples is not None:
            if not run.can("encode"):
                raise AeganError(f"{run.path} has no encoder: interpolate between random codings (no samples)")
            codings = run.model.encode(run.to_model(run._check_shape(np.asarray(samples))))
            codings = codings[0] if isinstance(codings, tuple) else codings
            starts, ends = codings[0::2], codings[1::2]
        else:
            starts = torch.randn(pairs, run.model.config.coding_size, generator=generator)
            ends = torch.randn(pairs, run.model.config.coding_size, generator=generator)
        weights = torch.linspace(0, 1, steps)[None, :, None]
        path = starts[:, None] * (1 - weights) + ends[:, None] * weights
        if _conditional(run):  # a conditional GAN: one class per row
            labels = run.model.random_labels(len(starts), generator).repeat_interleave(steps)
        run.model.eval()
        decoded = (run.model.decode(path.reshape(-1, path.shape[-1]), labels) if labels is not None
                   else run.model.decode(path.reshape(-1, path.shape[-1])))
        decoded = run.spec.from_model(decoded)
    return decoded.reshape(len(starts), steps, *decoded.shape[1:]).numpy()


def plot_interpolations(run, path: str | os.PathLike | None = None, steps: int = 9, pairs: int = 4,
                        seed: int = 0) -> Path:
    """Rows from one validation sample to another (first half) and between random codings (second)."""
    run = as_run(run)
    if not run.spec.is_image:
        raise AeganError(f"{run.path} was trained on {run.spec.layout}s: interpolation figures are drawn for "
                         "images; use aegan.interpolate(run) for the values")
    rows = []
    sample_pairs = pairs - pairs // 2 if run.can("encode") else 0
    if sample_pairs:
        try:
            valid = run.splits().valid
            chosen = shown_samples(valid, 2 * sample_pairs)
            rows.append(interpolate(run, steps, samples=np.asarray(valid.samples[chosen]), seed=seed))
        except AeganError:  # the data is not here: random codings only
            sample_pairs = 0
    rows.append(interpolate(run, steps, pairs=pairs - sample_pairs, seed=seed))
    grid = _display(run, np.concatenate(rows))
    return plot_image_grid(grid, path or run.path / "interpolations.png",
                           title=f"{run.config.name}: interpolation in coding space")
