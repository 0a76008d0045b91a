"""Figures for any data: colour images, gray images as before, tables and sequences, many classes."""

import numpy as np
from PIL import Image

from aegan.plots import (
    class_colours,
    plot_codings_2d,
    plot_image_grid,
    plot_reconstructions,
    plot_series_reconstructions,
)


def pixels(path):
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def red_dominant(image):
    return (image[..., 0] > 200) & (image[..., 1] < 60) & (image[..., 2] < 60)


def solid(colour, size=10):
    return np.broadcast_to(np.asarray(colour, np.float32)[:, None, None], (3, size, size)).copy()


def test_rgb_grid_is_in_colour(tmp_path):
    red, blue = solid((1, 0, 0)), solid((0, 0, 1))
    wrapped = pixels(plot_image_grid(np.stack([red, blue, red]), tmp_path / "n.png", title="rgb"))
    assert red_dominant(wrapped).sum() > 50
    assert ((wrapped[..., 2] > 200) & (wrapped[..., 0] < 60)).sum() > 50  # blue too
    grid = np.stack([np.stack([red, blue]), np.stack([blue, blue])])  # (rows, columns, C, H, W)
    assert red_dominant(pixels(plot_image_grid(grid, tmp_path / "rc.png"))).sum() > 50
    # values outside [0, 1] are clipped, not wrapped around
    assert red_dominant(pixels(plot_image_grid(np.stack([red * 3 - 0.5]), tmp_path / "clip.png"))).sum() > 50


def test_gray_images_stay_gray_in_every_old_form(tmp_path):
    rng = np.random.default_rng(0)
    for name, images in {"n1": rng.random((13, 1, 8, 8)), "rc": rng.random((2, 5, 8, 8)),
                         "nhw": rng.random((4, 8, 8))}.items():
        image = pixels(plot_image_grid(images, tmp_path / f"{name}.png"))
        assert np.abs(image[..., 0] - image[..., 2]).max() <= 2, name  # gray: red = green = blue
        assert (image.sum(-1) < 300).sum() > 50, name  # and something dark is drawn


def test_reconstructions_of_colour_and_gray_images(tmp_path):
    red = np.stack([solid((1, 0, 0))] * 3)
    colour = pixels(plot_reconstructions({"original": red, "reconstruction": red * 0.9}, tmp_path / "rgb.png"))
    assert red_dominant(colour).sum() > 50
    gray = np.random.default_rng(1).random((3, 1, 8, 8))
    image = pixels(plot_reconstructions({"original": gray, "reconstruction": gray[:, 0]}, tmp_path / "gray.png"))
    assert np.abs(image[..., 0] - image[..., 2]).max() <= 2


def test_series_reconstructions_write_a_png_for_tables_and_sequences(tmp_path):
    rng = np.random.default_rng(2)
    table = rng.random((3, 5))
    path = plot_series_reconstructions({"original": table, "reconstruction": table + 0.05}, tmp_path / "table.png",
                                       feature_names=("a", "b", "c", "d", "e"))
    assert Image.open(path).size[0] > 300
    sequence = np.cumsum(rng.normal(size=(10, 20, 2)), axis=1)
    path = plot_series_reconstructions({"original": sequence, "reconstruction": sequence * 0.9},
                                       tmp_path / "sequence.png", feature_names=("x", "y"))
    assert Image.open(path).format == "PNG"


def test_codings_of_many_classes(tmp_path):
    assert len(set(class_colours(10))) == 10 and len(set(class_colours(20))) == 20 and len(set(class_colours(40))) == 40
    rng = np.random.default_rng(3)
    for classes in (3, 15, 40):
        labels = rng.integers(0, classes, 400)
        names = tuple(f"class {i}" for i in range(classes))
        assert plot_codings_2d(rng.normal(size=(400, 2)), labels, names, tmp_path / f"{classes}.png").is_file()
    assert plot_codings_2d(rng.normal(size=(50, 2)), np.arange(50) % 4, (), tmp_path / "numbers.png").is_file()
