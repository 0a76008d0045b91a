"""The report's figures as PNG bytes, drawn by the same functions as `aegan reconstruct`, `sample`,
`interpolate` and `encode`, into a temporary folder that is removed afterwards.

matplotlib is imported here only, inside the functions: importing the report costs nothing.
"""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import numpy as np

# metrics.jsonl keys that are not curves
NOT_CURVES = ("epoch", "seconds", "replayed_batches", "step")
LATENT_MAP_POINTS = 2000


def drawn(plot) -> bytes:
    """The PNG that `plot(path)` writes, read back from a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="aegan-report-") as folder:
        written = plot(Path(folder) / "figure.png")
        return Path(written).read_bytes()


def curve_names(records: list[dict]) -> tuple[list[str], list[str]]:
    """The loss curves (keys holding "loss") and the other numeric curves in metrics.jsonl."""
    names: list[str] = []
    for record in records:
        for key, value in record.items():
            if key not in NOT_CURVES and key not in names and isinstance(value, (int, float)) \
                    and not isinstance(value, bool):
                names.append(key)
    losses = [name for name in names if "loss" in name]
    return losses, [name for name in names if name not in losses]


def learning_curves(records: list[dict], title: str) -> bytes | None:
    """Losses per epoch (left) and the other recorded measures, such as accuracies (right)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    records = [record for record in records if isinstance(record.get("epoch"), (int, float))]
    losses, others = curve_names(records)
    panels = [(names, label) for names, label in ((losses, "loss"), (others, "value")) if names]
    if not panels:
        return None
    figure = Figure(figsize=(3.4 * len(panels), 2.6), layout="constrained")
    for index, (names, label) in enumerate(panels, start=1):
        axis = figure.add_subplot(1, len(panels), index)
        for name in names:
            points = [(record["epoch"], record[name]) for record in records
                      if isinstance(record.get(name), (int, float)) and math.isfinite(record[name])]
            if points:
                epochs, values = zip(*points)
                axis.plot(epochs, values, marker="o", markersize=3, label=name)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.tick_params(labelsize=8)
        axis.set_xlabel("epoch", fontsize=9)
        axis.set_ylabel(label, fontsize=9)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(title, fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def reconstructions(run, n: int = 8, noise: bool = False) -> bytes:
    from aegan.codings import plot_reconstructions

    return drawn(lambda path: plot_reconstructions(run, path, n=n, noise=noise))


def samples(run, n: int = 12) -> bytes:
    from aegan.sampling import plot_samples

    return drawn(lambda path: plot_samples(run, path, n=n))


def interpolations(run) -> bytes:
    from aegan.sampling import plot_interpolations

    return drawn(lambda path: plot_interpolations(run, path, steps=9, pairs=4))


def project_to_plane(codings: np.ndarray) -> tuple[np.ndarray, str]:
    """Codings as 2-D points: as they are when they have two dimensions, else their first two
    principal components (fast, and faithful to distances along them, unlike t-SNE)."""
    flat = codings.reshape(len(codings), -1).astype(np.float64)
    if flat.shape[1] == 2:
        return flat, "2-D codings"
    centred = flat - flat.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    points = centred @ components[:2].T
    if points.shape[1] < 2:  # one-dimensional codings: spread along the first axis only
        points = np.column_stack([points[:, 0], np.zeros(len(points))])
    return points, f"PCA of {flat.shape[1]}-D codings"


def latent_map(run, split, title: str) -> bytes:
    """The codings of up to LATENT_MAP_POINTS samples of `split`, on a plane, coloured by class."""
    from aegan.plots import plot_codings_2d

    count = len(split)
    chosen = np.sort(np.random.default_rng(0).choice(count, min(count, LATENT_MAP_POINTS), replace=False))
    codings = run.encode(np.asarray(split.samples[chosen]))
    labels = None if split.labels is None else np.asarray(split.labels)[chosen]
    points, method = project_to_plane(codings)
    names = run.spec.class_names if labels is not None else ()
    return drawn(lambda path: plot_codings_2d(points, labels, names, path,
                                              f"{title}: {method} ({len(chosen):,} validation samples)"))


def image_file(path: Path) -> bytes | None:
    """A PNG the run folder already holds (e.g. coding-activations.png from `aegan evaluate`)."""
    return path.read_bytes() if path.is_file() else None
