"""The readers of aegan.data (idx, image_folder, arrays, tables) on small generated files:
shapes, dtypes, labels, the lazy (memory_map) path matching the eager one, and every user error."""

import gzip
import pickle
import re

import numpy as np
import pytest
from PIL import Image

from aegan.config import DataConfig
from aegan.data import arrays, idx, image_folder, tables
from aegan.errors import AeganError


def config(**values):
    return DataConfig(**values)


def escaped(path):
    return re.escape(str(path))


# --- IDX ------------------------------------------------------------------------------------------
def write_idx(path, magic, array, cut=0):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + np.asarray(array, dtype=np.uint8).tobytes()
    raw = raw[: len(raw) - cut] if cut else raw
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def idx_set(folder, count=20, size=(12, 12), classes=5, gz=True, seed=0):
    """An MNIST-style set that is not Fashion-MNIST: `classes` classes of `size` images."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ext = ".gz" if gz else ""
    images = rng.integers(0, 256, (count, *size), dtype=np.uint8)
    labels = np.arange(count) % classes
    write_idx(folder / f"train-images-idx3-ubyte{ext}", 0x0803, images)
    write_idx(folder / f"train-labels-idx1-ubyte{ext}", 0x0801, labels)
    write_idx(folder / f"t10k-images-idx3-ubyte{ext}", 0x0803, images[:7])
    write_idx(folder / f"t10k-labels-idx1-ubyte{ext}", 0x0801, labels[:7])
    return images, labels


def test_idx_reads_a_five_class_set_of_12x12_images(tmp_path):
    images, labels = idx_set(tmp_path)
    files = idx.find_split_files(tmp_path)
    assert files == {
        "train": (tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "train-labels-idx1-ubyte.gz"),
        "test": (tmp_path / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz"),
    }
    data = idx.read(files["train"][0], config())
    assert data.layout == "image" and data.format == "idx"
    assert data.samples.shape == (20, 1, 12, 12) and data.samples.dtype == np.uint8
    np.testing.assert_array_equal(data.samples[:, 0], images)
    assert data.labels.dtype == np.int64 and data.labels.tolist() == labels.tolist()
    assert data.class_names == ("0", "1", "2", "3", "4")
    assert len(idx.read(files["test"][0], config())) == 7


@pytest.mark.parametrize("gz", [False, True])
def test_idx_memory_map_gives_the_same_arrays(tmp_path, gz):
    idx_set(tmp_path, count=30, size=(8, 10), gz=gz)
    path = tmp_path / f"train-images-idx3-ubyte{'.gz' if gz else ''}"
    eager, lazy = idx.read(path, config()), idx.read(path, config(), memory_map=True)
    assert lazy.samples.shape == eager.samples.shape == (30, 1, 8, 10)
    assert isinstance(lazy.samples, np.ndarray) == gz  # a raw file is read on demand
    rows = np.array([29, 3, 4, 5, 0, 17])
    np.testing.assert_array_equal(lazy.samples[rows], eager.samples[rows])
    np.testing.assert_array_equal(lazy.samples[2:11], eager.samples[2:11])
    np.testing.assert_array_equal(lazy.labels, eager.labels)


def test_idx_mirror_names_and_no_labels(tmp_path):
    images = np.arange(3 * 9 * 7).reshape(3, 9, 7) % 256
    write_idx(tmp_path / "train-images.idx3-ubyte", 0x0803, images)
    write_idx(tmp_path / "train-labels.idx1-ubyte", 0x0801, np.array([2, 0, 1]))
    write_idx(tmp_path / "t10k-images.idx3-ubyte", 0x0803, images)
    files = idx.find_split_files(tmp_path)
    assert files["train"] == (tmp_path / "train-images.idx3-ubyte", tmp_path / "train-labels.idx1-ubyte")
    assert files["test"] == (tmp_path / "t10k-images.idx3-ubyte", None)
    test = idx.read(files["test"][0], config())
    assert test.labels is None and test.class_names == () and test.samples.shape == (3, 1, 9, 7)
    assert idx.read(files["train"][0], config()).class_names == ("0", "1", "2")


def test_idx_finds_prefixed_names_and_refuses_ambiguous_ones(tmp_path):
    write_idx(tmp_path / "emnist-digits-train-images-idx3-ubyte.gz", 0x0803, np.zeros((3, 4, 4)))
    write_idx(tmp_path / "emnist-digits-train-labels-idx1-ubyte.gz", 0x0801, np.zeros(3))
    assert idx.find_split_files(tmp_path) == {"train": (tmp_path / "emnist-digits-train-images-idx3-ubyte.gz",
                                                        tmp_path / "emnist-digits-train-labels-idx1-ubyte.gz")}
    write_idx(tmp_path / "emnist-letters-train-images-idx3-ubyte.gz", 0x0803, np.zeros((3, 4, 4)))
    with pytest.raises(AeganError, match="several train images files.*point data.path at one"):
        idx.find_split_files(tmp_path)
    assert idx.find_split_files(tmp_path / "..") == {}


def test_idx_labels_of_another_length(tmp_path):
    idx_set(tmp_path, count=10)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", 0x0801, np.zeros(9))
    images, labels = tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "train-labels-idx1-ubyte.gz"
    with pytest.raises(AeganError, match=f"{escaped(images)} holds 10 images but {escaped(labels)} holds 9 labels"):
        idx.read(images, config())


def test_idx_header_checks(tmp_path):
    labels = write_idx(tmp_path / "l-idx1-ubyte", 0x0801, np.arange(6))
    images = write_idx(tmp_path / "i-idx3-ubyte", 0x0803, np.zeros((2, 5, 3)))
    assert idx.read_idx(labels).tolist() == list(range(6))  # magic and shape from the header
    assert idx.read_idx(images).shape == (2, 5, 3)
    with pytest.raises(AeganError, match=r"i-idx3-ubyte holds items of shape \(5, 3\), expected \(28, 28\)"):
        idx.read_idx(images, 0x0803, (28, 28))
    with pytest.raises(AeganError, match="l-idx1-ubyte has magic number 0x00000801, expected 0x00000803"):
        idx.read(labels, config())
    odd = write_idx(tmp_path / "odd", 0x0D03, np.zeros((2, 2, 2)))
    with pytest.raises(AeganError, match="odd has magic number 0x00000d03.*not an unsigned-byte IDX file"):
        idx.read_idx(odd)
    cut = write_idx(tmp_path / "cut-idx3-ubyte.gz", 0x0803, np.zeros((4, 5, 5)), cut=7)
    with pytest.raises(AeganError, match="cut-idx3-ubyte.gz is truncated or padded: 93 data bytes.*download it again"):
        idx.read(cut, config())
    raw = write_idx(tmp_path / "raw-idx3-ubyte", 0x0803, np.zeros((4, 5, 5)), cut=7)
    with pytest.raises(AeganError, match="raw-idx3-ubyte is truncated or padded"):
        idx.read(raw, config(), memory_map=True)
    damaged = tmp_path / "bad-idx3-ubyte.gz"
    damaged.write_bytes(b"not gzip at all")
    with pytest.raises(AeganError, match="bad-idx3-ubyte.gz is damaged .*download it again; get it here"):
        idx.read_idx(damaged, how_to_get="get it here")
    with pytest.raises(AeganError, match="is a folder: give one IDX images file"):
        idx.read(tmp_path, config())


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


# --- .npy and .npz ------------------------------------------------------------------------------------
def test_npy_table_with_named_labels(tmp_path):
    values = np.random.default_rng(0).normal(size=(6, 4))
    np.save(tmp_path / "x.npy", values)
    np.save(tmp_path / "y.npy", np.array(["cat", "dog", "cat", "emu", "dog", "cat"]))
    data = arrays.read(tmp_path / "x.npy", config(labels_path=str(tmp_path / "y.npy")))
    assert data.layout == "table" and data.format == "npy"
    assert data.samples.dtype == np.float32 and data.samples.shape == (6, 4)
    np.testing.assert_array_equal(data.samples, values.astype(np.float32))
    assert data.class_names == ("cat", "dog", "emu") and data.labels.tolist() == [0, 1, 0, 2, 1, 0]
    beside = arrays.read(tmp_path / "x.npy", config(labels_path="y.npy"))  # relative: beside the samples
    assert beside.labels.tolist() == data.labels.tolist()


@pytest.mark.parametrize("array, layout, shape, dtype", [
    (np.zeros((5, 24, 40), np.uint8), "auto", (5, 1, 24, 40), np.uint8),
    (np.zeros((5, 7, 3), np.float64), "auto", (5, 7, 3), np.float32),
    (np.zeros((5, 8, 8), np.float32), "image", (5, 1, 8, 8), np.float32),
    (np.zeros((5, 3, 24, 40), np.uint8), "auto", (5, 3, 24, 40), np.uint8),
    (np.zeros((5, 24, 40, 3), np.uint8), "auto", (5, 3, 24, 40), np.uint8),
    (np.zeros((5, 8, 8, 4), np.int32), "auto", (5, 4, 8, 8), np.float32),
    (np.zeros((5, 2), bool), "auto", (5, 2), np.uint8),
])
def test_npy_layouts_and_dtypes(tmp_path, array, layout, shape, dtype):
    np.save(tmp_path / "a.npy", array)
    for memory_map in (False, True):
        data = arrays.read(tmp_path / "a.npy", config(layout=layout), memory_map=memory_map)
        assert data.samples.shape == shape and data.samples.dtype == dtype
        assert data.layout == {2: "table", 3: "sequence", 4: "image"}[len(shape)]
        assert data.samples[np.array([0, 1])].shape == (2, *shape[1:])


@pytest.mark.parametrize("shape, layout, message", [
    ((5,), "auto", r"1-D array of shape \[5\]: expected samples as rows"),
    ((5, 2, 2, 2, 2), "auto", r"5-D array of shape \[5, 2, 2, 2, 2\]"),
    ((5, 5, 5, 5), "auto", r"images of shape \[5, 5, 5, 5\]: expected 1, 3 or 4 channels"),
    ((5, 4, 2), "table", r"data.layout=table needs \(N, F\)"),
    ((5, 4), "sequence", r"data.layout=sequence needs \(N, T, F\)"),
    ((5, 4), "image", r"data.layout=image needs \(N, H, W\)"),
])
def test_npy_shape_errors(tmp_path, shape, layout, message):
    np.save(tmp_path / "a.npy", np.zeros(shape, np.float32))
    for memory_map in (False, True):
        with pytest.raises(AeganError, match=f"{escaped(tmp_path / 'a.npy')} .*{message}"):
            arrays.read(tmp_path / "a.npy", config(layout=layout), memory_map=memory_map)


def test_npy_memory_map_reads_rows_on_demand_exactly_as_the_eager_path(tmp_path):
    stored = np.random.default_rng(0).normal(size=(50, 6, 5, 3)).astype(">f8")  # big-endian, channels last
    np.save(tmp_path / "a.npy", stored)
    eager = arrays.read(tmp_path / "a.npy", config())
    lazy = arrays.read(tmp_path / "a.npy", config(), memory_map=True)
    assert isinstance(lazy.samples, arrays.FileRows) and not isinstance(lazy.samples, np.ndarray)
    assert lazy.samples.shape == eager.samples.shape == (50, 3, 6, 5)
    assert lazy.samples.dtype == eager.samples.dtype == np.float32
    np.testing.assert_array_equal(eager.samples, stored.astype(np.float32).transpose(0, 3, 1, 2))
    for index in (np.array([7, 8, 9, 2, 3, 49, 0]), slice(10, 20), slice(None, None, 7), np.array([], int),
                  np.array([-1, -2])):
        np.testing.assert_array_equal(lazy.samples[index], eager.samples[index])
    np.testing.assert_array_equal(lazy.samples[5], eager.samples[5])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(lazy.samples))[0:3], eager.samples[0:3])
    with pytest.raises(IndexError):
        lazy.samples[np.array([50])]


def test_npy_memory_map_reads_each_run_of_rows_once(tmp_path, monkeypatch):
    np.save(tmp_path / "a.npy", np.arange(40, dtype=np.uint8).reshape(10, 4))
    data = arrays.read(tmp_path / "a.npy", config(), memory_map=True)
    reads = []
    original = arrays.os.pread
    monkeypatch.setattr(arrays.os, "pread", lambda fd, size, at: reads.append((size, at)) or original(fd, size, at))
    rows = data.samples[np.array([2, 3, 4, 8, 9, 0])]
    assert rows[:, 0].tolist() == [8, 12, 16, 32, 36, 0]
    offset = data.samples.offset
    assert reads == [(12, offset + 8), (8, offset + 32), (4, offset)]


def test_npz_keys_labels_and_memory_map(tmp_path):
    x = np.random.default_rng(1).integers(0, 256, (6, 28, 28, 1), dtype=np.uint8)
    np.savez_compressed(tmp_path / "d.npz", images=x, y=np.array([3, 1, 3, 0, 1, 1]))
    data = arrays.read(tmp_path / "d.npz", config())
    assert data.format == "npz" and data.samples.shape == (6, 1, 28, 28)
    np.testing.assert_array_equal(data.samples[:, 0], x[..., 0])
    assert data.labels.tolist() == [3, 1, 3, 0, 1, 1] and data.class_names == ("0", "1", "2", "3")
    np.testing.assert_array_equal(arrays.read(tmp_path / "d.npz", config(), memory_map=True).samples, data.samples)
    np.savez(tmp_path / "k.npz", data=x[..., 0], kind=np.array([1.0, 2, 1, 2, 1, 2]), extra=np.zeros(6))
    chosen = arrays.read(tmp_path / "k.npz", config(labels_key="kind"))
    assert chosen.samples.shape == (6, 1, 28, 28) and chosen.class_names == ("0", "1", "2")
    unlabelled = arrays.read(tmp_path / "k.npz", config())
    assert unlabelled.labels is None and unlabelled.samples.shape == (6, 1, 28, 28)


def test_npz_key_errors(tmp_path):
    np.savez(tmp_path / "k.npz", a=np.zeros((4, 2)), b=np.zeros((4, 2)))
    with pytest.raises(AeganError, match=f"{escaped(tmp_path / 'k.npz')} holds the arrays a, b: cannot tell "
                                         "the samples .*set data.labels_key"):
        arrays.read(tmp_path / "k.npz", config())
    with pytest.raises(AeganError, match=r"data.labels_key='c': .*k.npz has no such array; its arrays are a, b"):
        arrays.read(tmp_path / "k.npz", config(labels_key="c"))
    np.savez(tmp_path / "l.npz", x=np.zeros((4, 2)), labels=np.zeros(4))
    with pytest.raises(AeganError, match=r"data.labels_key='lables': .*l.npz has no such array \(did you mean "
                                         r"'labels'\?\)"):
        arrays.read(tmp_path / "l.npz", config(labels_key="lables"))


@pytest.mark.parametrize("memory_map", [False, True])
def test_arrays_refuse_pickled_objects(tmp_path, memory_map):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}, None, 3], dtype=object), allow_pickle=True)
    with pytest.raises(AeganError, match=f"{escaped(tmp_path / 'o.npy')} holds Python objects.*save a numeric "
                                         "array with numpy.save"):
        arrays.read(tmp_path / "o.npy", config(), memory_map=memory_map)
    np.savez(tmp_path / "o.npz", x=np.array([[1], [2], [None]], dtype=object))
    with pytest.raises(AeganError, match=r"o.npz \(array 'x'\) holds Python objects.*numpy.save"):
        arrays.read(tmp_path / "o.npz", config(), memory_map=memory_map)
    pickle.dump([1, 2, 3], open(tmp_path / "p.npy", "wb"))
    with pytest.raises(AeganError, match="p.npy holds Python objects"):
        arrays.read(tmp_path / "p.npy", config(), memory_map=memory_map)


@pytest.mark.parametrize("memory_map", [False, True])
def test_arrays_refuse_non_finite_values(tmp_path, memory_map, monkeypatch):
    monkeypatch.setattr(arrays, "CHUNK_BYTES", 64)  # several chunks of 2 rows
    values = np.ones((20, 8))
    values[3, 1], values[17, 0], values[17, 5] = np.nan, np.inf, -np.inf
    np.save(tmp_path / "n.npy", values)
    with pytest.raises(AeganError, match=f"{escaped(tmp_path / 'n.npy')} holds 3 values that are NaN or infinite"
                                         ".*nan_to_num"):
        arrays.read(tmp_path / "n.npy", config(), memory_map=memory_map)
    np.save(tmp_path / "big.npy", np.full((4, 2), 1e300))  # finite, but not as float32
    with pytest.raises(AeganError, match="big.npy holds 8 values that are NaN or infinite"):
        arrays.read(tmp_path / "big.npy", config(), memory_map=memory_map)


def test_arrays_sample_count_and_label_errors(tmp_path):
    np.save(tmp_path / "two.npy", np.zeros((2, 3)))
    with pytest.raises(AeganError, match="two.npy holds 2 samples: expected at least 3"):
        arrays.read(tmp_path / "two.npy", config())
    np.save(tmp_path / "x.npy", np.zeros((5, 3)))
    np.save(tmp_path / "y.npy", np.arange(4))
    with pytest.raises(AeganError, match=f"{escaped(tmp_path / 'y.npy')} holds 4 labels but "
                                         f"{escaped(tmp_path / 'x.npy')} holds 5 samples"):
        arrays.read(tmp_path / "x.npy", config(labels_path=str(tmp_path / "y.npy")), memory_map=True)
    np.savez(tmp_path / "z.npz", x=np.zeros((5, 3)), y=np.arange(6))
    with pytest.raises(AeganError, match=r"z.npz \(array 'y'\) holds 6 labels but .*z.npz holds 5 samples"):
        arrays.read(tmp_path / "z.npz", config())
    np.save(tmp_path / "half.npy", np.array([0.5, 1, 2, 1, 0]))
    with pytest.raises(AeganError, match="half.npy holds labels that are not whole numbers"):
        arrays.read(tmp_path / "x.npy", config(labels_path=str(tmp_path / "half.npy")))
    with pytest.raises(AeganError, match="data.labels_path='nowhere.npy': no such file"):
        arrays.read(tmp_path / "x.npy", config(labels_path="nowhere.npy"))


def test_npy_damaged_files(tmp_path):
    np.save(tmp_path / "f.npy", np.asfortranarray(np.arange(12.0).reshape(4, 3)))
    assert arrays.read(tmp_path / "f.npy", config()).samples[1].tolist() == [3, 4, 5]
    with pytest.raises(AeganError, match="f.npy is stored in Fortran .*numpy.ascontiguousarray"):
        arrays.read(tmp_path / "f.npy", config(), memory_map=True)
    np.save(tmp_path / "t.npy", np.zeros((10, 10)))
    (tmp_path / "t.npy").write_bytes((tmp_path / "t.npy").read_bytes()[:-8])
    for memory_map in (False, True):
        with pytest.raises(AeganError, match="t.npy is (truncated|not a readable .npy file)"):
            arrays.read(tmp_path / "t.npy", config(), memory_map=memory_map)
    (tmp_path / "text.npy").write_text("1,2,3")
    with pytest.raises(AeganError, match="text.npy is not a .npy or .npz file.*numpy.save"):
        arrays.read(tmp_path / "text.npy", config())


# --- CSV ------------------------------------------------------------------------------------------------
def test_csv_with_header_and_named_labels(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("height,kind,weight\n1.5,cat,3\n2,dog,-4e1\n\n0.25,cat,7\n")
    data = tables.read(path, config(label_column="kind"))
    assert data.layout == "table" and data.format == "csv"
    assert data.samples.dtype == np.float32
    np.testing.assert_array_equal(data.samples, [[1.5, 3], [2, -40], [0.25, 7]])
    assert data.feature_names == ("height", "weight") and data.label_column == "kind"
    assert data.class_names == ("cat", "dog") and data.labels.tolist() == [0, 1, 0]
    np.testing.assert_array_equal(tables.read(path, config(label_column="kind"), memory_map=True).samples,
                                  data.samples)


def test_csv_without_header_and_numeric_labels(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("1,2,0\n3,4,2\n5,6,2.0\n")
    data = tables.read(path, config(label_column="column_2"))
    assert data.feature_names == ("column_0", "column_1")
    np.testing.assert_array_equal(data.samples, [[1, 2], [3, 4], [5, 6]])
    assert data.labels.tolist() == [0, 2, 2] and data.class_names == ("0", "1", "2")
    unlabelled = tables.read(path, config())
    assert unlabelled.labels is None and unlabelled.samples.shape == (3, 3)


@pytest.mark.parametrize("cell, shown", [("", "an empty cell"), ("abc", "'abc'"), ("nan", "'nan'"),
                                         (" inf", "' inf'"), ("1e300", r"'1e300' \(too large for float32\)")])
def test_csv_bad_cells_name_the_line_column_and_text(tmp_path, cell, shown):
    path = tmp_path / "t.csv"
    path.write_text(f"a,b,label\n1,2,x\n\n3,{cell},y\n")
    with pytest.raises(AeganError, match=f"^{escaped(path)}, line 4, column 'b': {shown} is not a finite number: "
                                         "every feature cell must hold a number; correct the cell or remove the row$"):
        tables.read(path, config(label_column="label"))


def test_csv_structure_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(AeganError, match=f"{escaped(path)}, line 3: 3 cells, but the header has 2: give every row"):
        tables.read(path, config())
    path.write_text("a,b,kind\n1,2,x\n")
    with pytest.raises(AeganError, match=r"data.label_column='knd': .*t.csv has no such column \(did you mean "
                                         r"'kind'\?\); its columns are a, b, kind"):
        tables.read(path, config(label_column="knd"))
    path.write_text("a,b,kind\n1,2,\n")
    with pytest.raises(AeganError, match="t.csv, line 2, column 'kind': an empty label"):
        tables.read(path, config(label_column="kind"))
    path.write_text("a,b\n")
    with pytest.raises(AeganError, match="t.csv has a header but no data rows"):
        tables.read(path, config())
    path.write_text("")
    with pytest.raises(AeganError, match="t.csv is empty"):
        tables.read(path, config())
    path.write_text("a,a\n1,2\n")
    with pytest.raises(AeganError, match="t.csv, line 1: the header names the column 'a' more than once"):
        tables.read(path, config())
    path.write_bytes(b"a,b\n1,\xff\n")
    with pytest.raises(AeganError, match="t.csv is not UTF-8 text.*save it as UTF-8"):
        tables.read(path, config())
