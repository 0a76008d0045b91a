"""Figures, drawn with matplotlib's Agg backend and saved atomically as PNG."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from aegan.files import atomic_savefig  # noqa: E402


def save_and_close(figure, path: str | os.PathLike) -> Path:
    """Write the figure as PNG atomically and free it."""
    try:
        return atomic_savefig(figure, path)
    finally:
        plt.close(figure)


def plot_reconstructions(rows: dict[str, np.ndarray], path: str | os.PathLike) -> Path:
    """The seed's figure: one row of images per entry (originals, then reconstructions)."""
    n = len(next(iter(rows.values())))
    figure, axes = plt.subplots(len(rows), n, figsize=(n * 1.5, 1.6 * len(rows)), squeeze=False)
    for row, (label, images) in enumerate(rows.items()):
        for column in range(n):
            axes[row, column].imshow(np.clip(images[column], 0, 1), cmap="binary", vmin=0, vmax=1)
            axes[row, column].axis("off")
        axes[row, 0].set_title(label, loc="left", fontsize=9)
    return save_and_close(figure, path)


def plot_codings_2d(points: np.ndarray, labels: np.ndarray, class_names, path: str | os.PathLike,
                    title: str = "") -> Path:
    """A 2-D scatter of codings, coloured by class, with a legend of class names."""
    figure, axis = plt.subplots(figsize=(8, 7))
    colours = plt.get_cmap("tab10")
    if labels is None:
        axis.scatter(points[:, 0], points[:, 1], s=12, color=colours(0))
    else:
        for index, name in enumerate(class_names):
            mask = labels == index
            axis.scatter(points[mask, 0], points[mask, 1], s=4, alpha=0.7, color=colours(index % 10), label=name)
        axis.legend(markerscale=4, fontsize=8, loc="best", framealpha=0.8)
    axis.set_title(title)
    axis.set_xticks([])
    axis.set_yticks([])
    return save_and_close(figure, path)


def plot_image_grid(images: np.ndarray, path: str | os.PathLike, title: str = "") -> Path:
    """(rows, columns, H, W) images in [0, 1] as a grid; (N, 1, H, W) gives one column per image
    wrapped into rows of at most 12."""
    if images.shape[1] == 1 and images.ndim == 4:
        n = len(images)
        columns = min(n, 12)
        padded = np.zeros((-(-n // columns) * columns, *images.shape[2:]), dtype=images.dtype)
        padded[:n] = images[:, 0]
        images = padded.reshape(-1, columns, *images.shape[2:])
    rows, columns = images.shape[:2]
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.1 + 0.4), squeeze=False)
    for r in range(rows):
        for c in range(columns):
            axes[r, c].imshow(images[r, c], cmap="binary", vmin=0, vmax=1)
            axes[r, c].axis("off")
    if title:
        figure.suptitle(title, fontsize=10)
    return save_and_close(figure, path)


def save_gif(png_paths, path: str | os.PathLike, seconds_per_frame: float = 0.4) -> Path:
    """An animated GIF of PNG frames (e.g. a GAN's per-epoch grids), written atomically."""
    import io

    from PIL import Image

    from aegan.files import atomic_write_bytes

    frames = [Image.open(p).convert("RGB") for p in png_paths]
    size = frames[0].size
    frames = [f if f.size == size else f.resize(size) for f in frames]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:],
                   duration=int(seconds_per_frame * 1000), loop=0)
    return atomic_write_bytes(path, buffer.getvalue())
