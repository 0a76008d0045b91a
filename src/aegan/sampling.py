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


FOR_WHOM = {"steps": "diffusion runs", "guidance": "conditional diffusion runs", "truncation": "stylegan runs",
            "mix": "stylegan runs"}


def _sampling_options(run: Run, steps: int | None = None, guidance: float | None = None,
                      truncation: float | None = None) -> dict:
    """A diffusion run's `steps` and `guidance`, a stylegan run's `truncation`; refused, in one line,
    for runs that have no such option."""
    options = {}
    for name, value in (("steps", steps), ("guidance", guidance), ("truncation", truncation)):
        if value is None:
            continue
        if name not in getattr(type(run.model), "sampling_options", ()):
            raise AeganError(f"--{name} {value}: {run.path} is a {run.config.model.kind} run, which has no such "
                             f"option; drop --{name} (it is for {FOR_WHOM[name]})")
        options[name] = value
    if truncation is not None and not 0 <= truncation <= 1:
        raise AeganError(f"--truncation {truncation}: expected a weight from 0 (the mean style) to 1 (none); "
                         "0.7 is usual")
    if steps is not None:
        run.model.timesteps(steps)  # the range check, with its one-line error
    if guidance is not None:
        if guidance < 0:
            raise AeganError(f"--guidance {guidance}: expected 0 or more (1: no guidance, 3: a usual choice)")
        if not _conditional(run):
            raise AeganError(f"--guidance {guidance}: {run.path} is not class-conditional, and guidance mixes the "
                             "conditional and unconditional predictions; drop --guidance, or train cddpm")
    return options


def sample(run, n: int = 12, seed: int = 0, label: int | None = None, steps: int | None = None,
           guidance: float | None = None, truncation: float | None = None) -> np.ndarray:
    """`n` new samples (n, *sample shape) in the data's own units (images of uint8 data in [0, 1]),
    from the prior; needs only the run's folder. `label` picks the class of a conditional model;
    a diffusion run takes its DDIM `steps` and classifier-free `guidance` weight, a stylegan run
    its `truncation` (1: none)."""
    run = as_run(run)
    run._require("sample", "sample new data")
    if n < 1:
        raise AeganError(f"n={n}: expected at least 1 sample")
    options = _sampling_options(run, steps, guidance, truncation)
    classes = _conditional(run)
    if label is not None and not classes:
        raise AeganError(f"--label {label}: {run.path} is not a conditional model; drop --label or train cgan")
    if label is not None and not 0 <= label < classes:
        raise AeganError(f"--label {label}: expected a class from 0 to {classes - 1} "
                         f"({', '.join(run.spec.class_names[:classes])})")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        values = (run.model.sample(n, generator=generator, labels=label, **options) if classes
                  else run.model.sample(n, generator=generator, **options))
        return run.spec.from_model(values).numpy()


def style_mixing_grid(run, rows: int = 4, columns: int = 6, seed: int = 0, truncation: float | None = None) -> np.ndarray:
    """A stylegan run's style-mixing grid (rows + 1, columns + 1, *sample shape) in the data's units:
    the top row and the left column are sources; each other cell has its row source's coarse styles
    (4x4 and 8x8) and its column source's finer ones."""
    run = as_run(run)
    if "mix" not in getattr(type(run.model), "sampling_options", ()):
        raise AeganError(f"--mix: {run.path} is a {run.config.model.kind} run, which has no styles to mix; "
                         "drop --mix (it is for stylegan runs)")
    _sampling_options(run, truncation=truncation)
    generator = torch.Generator().manual_seed(seed)
    grid = run.model.mixing_grid(rows, columns, generator, truncation=1.0 if truncation is None else truncation)
    return run.spec.from_model(grid.flatten(0, 1)).reshape(*grid.shape[:2], *grid.shape[2:]).numpy()


def plot_samples(run, path: str | os.PathLike | None = None, n: int = 12, seed: int = 0,
                 label: int | None = None, steps: int | None = None, guidance: float | None = None,
                 truncation: float | None = None, mix: bool = False) -> Path:
    run = as_run(run)
    if mix:
        grid = style_mixing_grid(run, seed=seed, truncation=truncation)
        return plot_image_grid(_display(run, grid), path or run.path / "style-mixing.png",
                               title=f"{run.config.name}: rows give the coarse styles, columns the fine ones")
    values = sample(run, n, seed, label, steps, guidance, truncation)
    what = f" of class {label} ({run.spec.class_names[label]})" if label is not None else ""
    what += f", {steps} DDIM steps" if steps is not None else ""
    what += f", guidance {guidance:g}" if guidance is not None else ""
    what += f", truncation {truncation:g}" if truncation is not None else ""
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
            size = getattr(run.model, "coding_size", None) or run.model.config.coding_size  # a diffusion run: its noise
            starts = torch.randn(pairs, size, generator=generator)
            ends = torch.randn(pairs, size, generator=generator)
        weights = torch.linspace(0, 1, steps)[None, :, None]
        if getattr(type(run.model), "interpolation", "linear") == "spherical":
            path = _slerp(starts[:, None], ends[:, None], weights)
        else:
            path = starts[:, None] * (1 - weights) + ends[:, None] * weights
        if _conditional(run):  # a conditional GAN: one class per row
            labels = run.model.random_labels(len(starts), generator).repeat_interleave(steps)
        run.model.eval()
        decoded = (run.model.decode(path.reshape(-1, path.shape[-1]), labels) if labels is not None
                   else run.model.decode(path.reshape(-1, path.shape[-1])))
        decoded = run.spec.from_model(decoded)
    return decoded.reshape(len(starts), steps, *decoded.shape[1:]).numpy()


def _slerp(starts: torch.Tensor, ends: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation: Gaussian noise of many dimensions lies near a sphere, and a straight
    line between two such points would pass inside it (noise too weak for the model)."""
    cosine = (starts * ends).sum(-1, keepdim=True) / (starts.norm(dim=-1, keepdim=True) * ends.norm(dim=-1, keepdim=True))
    angle = torch.arccos(cosine.clamp(-1 + 1e-7, 1 - 1e-7))
    return (torch.sin((1 - weights) * angle) * starts + torch.sin(weights * angle) * ends) / torch.sin(angle)


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
                           title=f"{run.config.name}: interpolation in "
                                 f"{'noise' if getattr(type(run.model), 'interpolation', '') == 'spherical' else 'coding'} space")
