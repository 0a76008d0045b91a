"""Figures saved atomically as PNG.

They are matplotlib `Figure` objects made without pyplot, so drawing them never picks or
changes the matplotlib backend (a notebook keeps its own) and never opens a window.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from aegan.files import atomic_savefig


def subplots(rows: int = 1, columns: int = 1, **options):
    """(figure, axes) like pyplot.subplots, for a figure that only gets saved."""
    figure = Figure(figsize=options.pop("figsize", None))
    return figure, figure.subplots(rows, columns, **options)


def save_and_close(figure, path: str | os.PathLike) -> Path:
    """Write the figure as PNG atomically and free it."""
    try:
        return atomic_savefig(figure, path)
    finally:
        figure.clear()


def _show_image(axis, image: np.ndarray) -> None:
    """One image in [0, 1]: (H, W) or (1, H, W) in gray ("binary", as the seed's figures), (3, H, W)
    in colour; other channel counts are shown as their mean in gray."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] == 3:
        axis.imshow(np.clip(image.transpose(1, 2, 0), 0, 1))
    else:
        if image.ndim == 3:
            image = image[0] if image.shape[0] == 1 else image.mean(axis=0)
        axis.imshow(np.clip(image, 0, 1), cmap="binary", vmin=0, vmax=1)
    axis.axis("off")


def plot_reconstructions(rows: dict[str, np.ndarray], path: str | os.PathLike) -> Path:
    """The seed's figure: one row of images per entry (originals, then reconstructions); each
    entry holds (N, H, W) or (N, C, H, W) images in [0, 1]."""
    n = len(next(iter(rows.values())))
    figure, axes = subplots(len(rows), n, figsize=(n * 1.5, 1.6 * len(rows)), squeeze=False)
    for row, (label, images) in enumerate(rows.items()):
        for column in range(n):
            _show_image(axes[row, column], images[column])
        axes[row, 0].set_title(label, loc="left", fontsize=9)
    return save_and_close(figure, path)


def plot_series_reconstructions(rows: dict[str, np.ndarray], path: str | os.PathLike, feature_names=(),
                                max_panels: int = 8) -> Path:
    """Tables (N, F) or sequences (N, T, F): one panel per sample (at most `max_panels`) with each
    entry (originals, then reconstructions) drawn as lines; a table over its features (named on
    the x axis when there are few), a sequence over time, one colour per feature."""
    names = list(rows)
    first = np.asarray(rows[names[0]])
    n = min(len(first), max_panels)
    columns = min(n, 4)
    figure, axes = subplots(-(-n // columns), columns, figsize=(columns * 4.2, -(-n // columns) * 3.2),
                            squeeze=False)
    styles = ["-", "--", ":", "-."]
    for panel, axis in enumerate(axes.flat):
        if panel >= n:
            axis.axis("off")
            continue
        for entry, name in enumerate(names):
            values = np.asarray(rows[name][panel])
            style = styles[entry % len(styles)]
            if values.ndim == 1:  # a table: values per feature
                axis.plot(np.arange(len(values)), values, style, marker="o", markersize=3, label=name)
            else:  # a sequence: each feature over time
                for feature in range(values.shape[1]):
                    label = name if values.shape[1] == 1 else f"{name}: {_feature_name(feature_names, feature)}"
                    axis.plot(values[:, feature], style, color=f"C{feature % 10}", label=label)
        _label_series_axes(axis, first[0], feature_names)
        axis.set_title(f"sample {panel}", fontsize=9)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles[:24], labels[:24], loc="upper center", ncol=min(len(labels[:24]), 6), fontsize=8,
                  bbox_to_anchor=(0.5, 1.0), framealpha=0.9)
    figure.tight_layout(rect=(0, 0, 1, 0.92))
    return save_and_close(figure, path)


def _feature_name(feature_names, index: int) -> str:
    return str(feature_names[index]) if index < len(feature_names) else f"feature {index}"


def _label_series_axes(axis, sample: np.ndarray, feature_names) -> None:
    if sample.ndim == 1:
        features = len(sample)
        if features <= 20:
            axis.set_xticks(np.arange(features))
            axis.set_xticklabels([_feature_name(feature_names, i) for i in range(features)], rotation=45,
                                 ha="right", fontsize=7)
        axis.set_xlabel("feature")
    else:
        axis.set_xlabel("time step")
    axis.grid(alpha=0.3)


def class_colours(num_classes: int) -> list:
    """A colour per class: tab10 up to 10 classes, tab20 up to 20, a continuous map beyond."""
    if num_classes <= 10:
        return [colormaps["tab10"](index) for index in range(num_classes)]
    if num_classes <= 20:
        return [colormaps["tab20"](index) for index in range(num_classes)]
    return [colormaps["turbo"](index / (num_classes - 1)) for index in range(num_classes)]


def plot_codings_2d(points: np.ndarray, labels: np.ndarray, class_names, path: str | os.PathLike,
                    title: str = "") -> Path:
    """A 2-D scatter of codings, coloured by class, with a legend of class names (the data's,
    else the class numbers; a legend in columns beyond 20 classes)."""
    figure, axis = subplots(figsize=(8, 7))
    if labels is None:
        axis.scatter(points[:, 0], points[:, 1], s=12, color=colormaps["tab10"](0))
    else:
        labels = np.asarray(labels)
        names = list(class_names) or [str(index) for index in range(int(labels.max(initial=-1)) + 1)]
        for index, (name, colour) in enumerate(zip(names, class_colours(len(names)))):
            mask = labels == index
            axis.scatter(points[mask, 0], points[mask, 1], s=4, alpha=0.7, color=colour, label=name)
        axis.legend(markerscale=4, fontsize=8 if len(names) <= 20 else 6, loc="best", framealpha=0.8,
                    ncol=1 if len(names) <= 20 else -(-len(names) // 20))
    axis.set_title(title)
    axis.set_xticks([])
    axis.set_yticks([])
    return save_and_close(figure, path)


def _as_grid(images: np.ndarray) -> np.ndarray:
    """(rows, columns, C, H, W) images; a wrapped last row is padded with white images."""
    images = np.asarray(images)
    if images.ndim == 3:  # (N, H, W)
        images = images[:, None]
    if images.ndim == 4 and images.shape[1] in (1, 3):  # (N, C, H, W): rows of at most 12
        n = len(images)
        columns = min(n, 12)
        white = 1 if images.shape[1] == 3 else 0  # gray images are drawn with the "binary" map
        padded = np.full((-(-n // columns) * columns, *images.shape[1:]), white, dtype=images.dtype)
        padded[:n] = images
        return padded.reshape(-1, columns, *images.shape[1:])
    if images.ndim == 4:  # (rows, columns, H, W)
        images = images[:, :, None]
    if images.ndim != 5:
        raise ValueError(f"images of shape {images.shape}: expected (rows, columns, [C,] H, W) or (N, C, H, W)")
    return images


def plot_image_grid(images: np.ndarray, path: str | os.PathLike, title: str = "") -> Path:
    """Images in [0, 1] as a grid: (rows, columns, C, H, W) or (rows, columns, H, W) as they are;
    (N, C, H, W) with C 1 or 3 (or (N, H, W)) wrapped into rows of at most 12. One channel is drawn
    in gray, three in colour (a three-column gray grid: give it as (rows, 3, 1, H, W))."""
    grid = _as_grid(images)
    rows, columns = grid.shape[:2]
    figure, axes = subplots(rows, columns, figsize=(columns * 1.1, rows * 1.1 + 0.4), squeeze=False)
    for r in range(rows):
        for c in range(columns):
            _show_image(axes[r, c], grid[r, c])
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
