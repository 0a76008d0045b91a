"""aegan.data.idx on small generated MNIST-style files: shapes, labels, the lazy path, every user error."""

import gzip

import numpy as np
import pytest

from aegan.data import idx
from aegan.errors import AeganError
from reader_helpers import config, escaped


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
