"""aegan.data.image_folder on small generated folders: classes, channels, sizes, the lazy path, every user error."""

import pickle

import numpy as np
import pytest
from PIL import Image

from aegan.data import image_folder
from aegan.errors import AeganError
from reader_helpers import config, escaped


# --- image folders ----------------------------------------------------------------------------------
def save(path, array, mode=None, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.asarray(array))
    image = image.convert(mode) if mode else image
    image.save(path, **options)
    return path


def rgb(seed, height=24, width=40):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_image_folder_classes_from_subfolders_rgb_non_square(tmp_path):
    save(tmp_path / "dog" / "b.png", rgb(1))
    save(tmp_path / "dog" / "a.PNG", rgb(2))
    save(tmp_path / "cat" / "z.bmp", rgb(3))
    save(tmp_path / "cat" / "deeper" / "c.webp", rgb(4), lossless=True)
    save(tmp_path / "cat" / ".hidden.png", rgb(5))
    save(tmp_path / ".cache" / "x.png", rgb(6))
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    data = image_folder.read(tmp_path, config())
    assert data.paths == ("cat/deeper/c.webp", "cat/z.bmp", "dog/a.PNG", "dog/b.png")
    assert data.layout == "image" and data.format == "image_folder"
    assert data.samples.shape == (4, 3, 24, 40) and data.samples.dtype == np.uint8
    for row, seed in enumerate([4, 3, 2, 1]):
        np.testing.assert_array_equal(data.samples[row], rgb(seed).transpose(2, 0, 1))
    assert data.class_names == ("cat", "dog") and data.labels.tolist() == [0, 0, 1, 1]


def test_image_folder_nested_images_count_for_their_first_level_folder(tmp_path):
    gray = np.full((8, 8), 7, np.uint8)
    save(tmp_path / "b" / "deep" / "er" / "x.jpg", gray)
    save(tmp_path / "a" / "y.JPEG", gray)
    data = image_folder.read(tmp_path, config())
    assert data.paths == ("a/y.JPEG", "b/deep/er/x.jpg") and data.labels.tolist() == [0, 1]
    assert data.samples.shape == (2, 1, 8, 8)  # JPEGs of mode L stay grayscale


@pytest.mark.parametrize("layout", ["top_level", "one_subfolder", "mixed"])
def test_image_folder_without_labels(tmp_path, layout):
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    names = {"top_level": ["a.png", "b.png"], "one_subfolder": ["only/a.png", "only/b.png"],
             "mixed": ["a.png", "sub/b.png"]}[layout]
    for name in names:
        save(tmp_path / name, gray)
    data = image_folder.read(tmp_path, config())
    assert data.labels is None and data.class_names == () and data.paths == tuple(names)
    np.testing.assert_array_equal(data.samples[:, 0], [gray, gray])


def test_image_folder_channels(tmp_path):
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    save(tmp_path / "a.png", gray)
    save(tmp_path / "b.png", (gray.astype(np.uint16) * 1000))  # 16-bit grayscale: its high byte
    save(tmp_path / "c.png", gray > 31, mode="1")
    data = image_folder.read(tmp_path, config())
    assert data.samples.shape == (3, 1, 8, 8)
    np.testing.assert_array_equal(data.samples[0, 0], gray)
    np.testing.assert_array_equal(data.samples[1, 0], (gray.astype(np.uint32) * 1000 >> 8).astype(np.uint8))
    np.testing.assert_array_equal(data.samples[2, 0], np.where(gray > 31, 255, 0))
    as_rgb = image_folder.read(tmp_path, config(channels=3))
    assert as_rgb.samples.shape == (3, 3, 8, 8)
    np.testing.assert_array_equal(as_rgb.samples[:, 1], data.samples[:, 0])
    rgba = np.dstack([rgb(1, 8, 8), np.full((8, 8), 128, np.uint8)])
    save(tmp_path / "d.png", rgba)  # one colour image makes them all RGB
    mixed = image_folder.read(tmp_path, config())
    assert mixed.samples.shape == (4, 3, 8, 8)
    np.testing.assert_array_equal(mixed.samples[3], rgb(1, 8, 8).transpose(2, 0, 1))
    forced = image_folder.read(tmp_path, config(channels=1))
    assert forced.samples.shape == (4, 1, 8, 8)
    np.testing.assert_array_equal(forced.samples[3, 0], np.asarray(Image.fromarray(rgb(1, 8, 8)).convert("L")))


def test_image_folder_image_size_covers_and_crops_the_centre(tmp_path):
    bands = np.repeat(np.array([[0, 128, 255]], np.uint8), 10, axis=1).repeat(10, axis=0)  # 10 high, 30 wide
    save(tmp_path / "bands.png", bands)
    save(tmp_path / "tall.png", np.full((40, 20), 60, np.uint8))
    data = image_folder.read(tmp_path, config(image_size=(10,)))
    assert data.samples.shape == (2, 1, 10, 10)
    np.testing.assert_array_equal(data.samples[0, 0], np.full((10, 10), 128))
    np.testing.assert_array_equal(data.samples[1, 0], np.full((10, 10), 60))
    wide = image_folder.read(tmp_path, config(image_size=(6, 12)))
    assert wide.samples.shape == (2, 1, 6, 12)


@pytest.mark.parametrize("image_size", [(), (12, 20)])
def test_image_folder_memory_map_gives_the_same_arrays(tmp_path, image_size):
    for i in range(5):
        save(tmp_path / ("odd" if i % 2 else "even") / f"{i}.png", rgb(i))
    eager = image_folder.read(tmp_path, config(image_size=image_size))
    lazy = image_folder.read(tmp_path, config(image_size=image_size), memory_map=True)
    assert isinstance(lazy.samples, image_folder.ImageFiles) and isinstance(eager.samples, np.ndarray)
    assert lazy.samples.shape == eager.samples.shape and lazy.samples.dtype == np.uint8
    assert len(lazy.samples) == 5 and lazy.paths == eager.paths
    rows = np.array([4, 0, 2])
    np.testing.assert_array_equal(lazy.samples[rows], eager.samples[rows])
    np.testing.assert_array_equal(lazy.samples[:], eager.samples)
    np.testing.assert_array_equal(lazy.samples[1:3], eager.samples[1:3])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(lazy.samples))[rows], eager.samples[rows])
    np.testing.assert_array_equal(lazy.labels, eager.labels)


def test_image_folder_with_no_images(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(AeganError, match=f"{escaped(tmp_path)} holds no images \\(looked for .bmp, .jpeg, .jpg, "
                                         ".png, .webp.*point data.path at the folder"):
        image_folder.read(tmp_path, config())
    with pytest.raises(AeganError, match="is not a folder"):
        image_folder.read(tmp_path / "notes.txt", config())


@pytest.mark.parametrize("memory_map", [False, True])
def test_image_folder_unreadable_image(tmp_path, memory_map):
    save(tmp_path / "cats" / "good.png", rgb(0))
    bad = tmp_path / "cats" / "x.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(AeganError, match=f"^{escaped(bad)} is not a readable image \\(cannot identify image file\\): "
                                         "remove it or replace it$"):
        image_folder.read(tmp_path, config(), memory_map=memory_map)


@pytest.mark.parametrize("memory_map", [False, True])
def test_image_folder_truncated_image(tmp_path, memory_map):
    save(tmp_path / "good.png", rgb(0))
    cut = save(tmp_path / "cut.png", rgb(1))
    cut.write_bytes(cut.read_bytes()[:-900])
    with pytest.raises(AeganError, match=f"{escaped(cut)} is not a readable image .*remove it or replace it"):
        data = image_folder.read(tmp_path, config(), memory_map=memory_map)
        data.samples[:]  # a lazy reader that passed the header check fails here, naming the file


def test_image_folder_images_of_different_sizes(tmp_path):
    save(tmp_path / "a.png", rgb(0, 24, 40))
    save(tmp_path / "b.png", rgb(1, 24, 40))
    save(tmp_path / "c.png", rgb(2, 16, 16))
    with pytest.raises(AeganError, match=f"{escaped(tmp_path / 'a.png')} is 40x24 pixels but "
                                         f"{escaped(tmp_path / 'c.png')} is 16x16.*"
                                         r"--set data.image_size=\[24,40\]"):
        image_folder.read(tmp_path, config())
    assert image_folder.read(tmp_path, config(image_size=(16, 16))).samples.shape == (3, 3, 16, 16)
