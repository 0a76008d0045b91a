"""Fashion-MNIST: the search path, the IDX checks, the seed's split, and the CLI's one-line errors."""

import gzip

import numpy as np
import pytest

import aegan.data.fashion_mnist as fm
from aegan.data import load_fashion_mnist, read_idx
from aegan.errors import AeganError
from conftest import run_cli


def write_idx(path, magic, array, gzipped=True, cut=0):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    raw = raw[: len(raw) - cut] if cut else raw
    path.write_bytes(gzip.compress(raw) if gzipped else raw)


def make_dataset(folder, n_train=5010, n_test=20, label_count=None, gzipped=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ext = ".gz" if gzipped else ""
    write_idx(folder / f"train-images-idx3-ubyte{ext}", 2051, rng.integers(0, 256, (n_train, 28, 28)), gzipped)
    write_idx(folder / f"train-labels-idx1-ubyte{ext}", 2049, np.arange(label_count or n_train) % 10, gzipped)
    write_idx(folder / f"t10k-images-idx3-ubyte{ext}", 2051, rng.integers(0, 256, (n_test, 28, 28)), gzipped)
    write_idx(folder / f"t10k-labels-idx1-ubyte{ext}", 2049, np.arange(n_test) % 10, gzipped)
    return folder


@pytest.fixture
def no_default_data(monkeypatch, tmp_path):
    """Hide the Keras cache, $AEGAN_DATA_DIR and the Debian folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AEGAN_DATA_DIR", raising=False)
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "no-debian")
    return tmp_path


@pytest.mark.parametrize("gzipped", [True, False])
def test_reads_gzipped_or_raw_files_with_the_seed_split(no_default_data, gzipped):
    folder = make_dataset(no_default_data / "data", gzipped=gzipped)
    data = load_fashion_mnist(folder)
    assert data.train_images.shape == (10, 28, 28) and data.valid_images.shape == (5000, 28, 28)
    assert data.test_images.shape == (20, 28, 28) and data.train_images.dtype == np.uint8
    assert data.valid_labels[0] == 0 and data.train_labels[0] == 5000 % 10
    assert data.source == folder


def test_search_path_order(no_default_data, monkeypatch):
    env_folder = make_dataset(no_default_data / "env")
    keras_folder = make_dataset(no_default_data / "home" / ".keras" / "datasets" / "fashion-mnist")
    assert fm.find_fashion_mnist() == keras_folder
    monkeypatch.setenv("AEGAN_DATA_DIR", str(env_folder))
    assert fm.find_fashion_mnist() == env_folder
    explicit = make_dataset(no_default_data / "explicit")
    assert fm.find_fashion_mnist(explicit) == explicit


def test_no_data_names_the_folders_and_the_fix(no_default_data):
    with pytest.raises(AeganError, match="dataset-fashion-mnist.*AEGAN_DATA_DIR"):
        load_fashion_mnist(no_default_data / "empty")


def test_truncated_file(no_default_data):
    folder = make_dataset(no_default_data / "data")
    write_idx(folder / "t10k-images-idx3-ubyte.gz", 2051, np.zeros((20, 28, 28)), cut=100)
    with pytest.raises(AeganError, match="t10k-images-idx3-ubyte.gz is truncated"):
        load_fashion_mnist(folder)


def test_damaged_gzip(no_default_data):
    folder = make_dataset(no_default_data / "data")
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(AeganError, match="damaged"):
        load_fashion_mnist(folder)


def test_wrong_magic_number(no_default_data):
    folder = make_dataset(no_default_data / "data")
    write_idx(folder / "train-images-idx3-ubyte.gz", 2049, np.zeros((5010, 28, 28)))
    with pytest.raises(AeganError, match="magic number 0x00000801, expected 0x00000803"):
        load_fashion_mnist(folder)


def test_images_and_labels_of_different_counts(no_default_data):
    folder = make_dataset(no_default_data / "data", label_count=5009)
    with pytest.raises(AeganError, match="5010 train images but 5009 train labels"):
        load_fashion_mnist(folder)


def test_read_idx_checks_item_shape(tmp_path):
    write_idx(tmp_path / "x.gz", 2051, np.zeros((3, 28, 27)))
    with pytest.raises(AeganError, match=r"shape \(28, 27\), expected \(28, 28\)"):
        read_idx(tmp_path / "x.gz", 2051, (28, 28))


def test_cli_data_errors_are_one_line_exit_2(tmp_path):
    folder = make_dataset(tmp_path / "data")
    write_idx(folder / "train-images-idx3-ubyte.gz", 1234, np.zeros((5010, 28, 28)))
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = run_cli("data", "--data-dir", folder, env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "magic number" in result.stderr
    assert "Traceback" not in result.stderr


def test_real_fashion_mnist(fashion):
    assert fashion.train_images.shape == (55000, 28, 28)
    assert fashion.valid_images.shape == (5000, 28, 28)
    assert fashion.test_images.shape == (10000, 28, 28)
    # Known facts about the real files: the first training label is 9 (ankle boot), classes balanced.
    assert fashion.valid_labels[0] == 9
    assert np.bincount(fashion.test_labels).tolist() == [1000] * 10
    result = run_cli("data")
    assert result.returncode == 0 and "Fashion-MNIST found in" in result.stdout
