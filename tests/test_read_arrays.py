"""aegan.data.arrays on small .npy and .npz files: layouts, dtypes, labels, the row reader, every user error."""

import pickle

import numpy as np
import pytest

from aegan.data import arrays
from aegan.errors import AeganError
from reader_helpers import config, escaped


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
