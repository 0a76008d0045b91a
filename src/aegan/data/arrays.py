"""NumPy arrays as samples: `.npy` and `.npz` files, checked as they are read.

The layout comes from data.layout or from the array's shape: (N, F) is a table; (N, C, H, W)
or (N, H, W, C) with 1, 3 or 4 channels are images (returned as (N, C, H, W)); (N, H, W) is
images when it holds bytes, else sequences (N, T, F). uint8 stays uint8, bool becomes uint8
and every other number becomes float32.

With memory_map=True a `.npy` file is never read whole: `FileRows` reads the rows asked for
with os.pread (np.memmap is not used, since its pages count in the process's resident memory
as they are touched). `.npz` archives are compressed or zipped and are always read whole.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib import format as npy_format

from aegan.data.source import SourceData, class_indices
from aegan.errors import AeganError, closest

if TYPE_CHECKING:
    from aegan.config import DataConfig

LABEL_KEYS = ("labels", "y", "Y", "targets")
SAMPLE_KEYS = ("x", "X", "data", "images", "samples", "arr_0")
CHANNEL_COUNTS = (1, 3, 4)
MIN_SAMPLES = 3  # one each for training, validation and test
CHUNK_BYTES = 32 * 2**20  # how much the finiteness check reads at a time
NPY_MAGIC, ZIP_MAGIC = b"\x93NUMPY", b"PK\x03\x04"
SAVE_NUMERIC = "save a numeric array with numpy.save"


# --- layout and dtype ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Arrangement:
    """How stored rows become samples: the layout, the samples' shape and dtype as returned, and
    whether the file stores images channels-last (N, H, W, C) so that rows are transposed."""

    layout: str
    shape: tuple[int, ...]
    dtype: np.dtype
    channels_last: bool = False

    def apply(self, rows: np.ndarray) -> np.ndarray:
        """Rows as stored, (k, *stored item shape), -> rows as returned, (k, *self.shape[1:])."""
        if self.channels_last:
            rows = rows.transpose(0, 3, 1, 2)
        rows = rows.reshape(len(rows), *self.shape[1:])
        with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf, which check_finite refuses
            return np.ascontiguousarray(rows, dtype=self.dtype)


def sample_dtype(dtype: np.dtype, path: Path) -> np.dtype:
    """The dtype samples stored as `dtype` are returned as: uint8 (from uint8 or bool) or float32."""
    if dtype.hasobject:
        raise pickled_error(path)
    if dtype == np.uint8 or dtype.kind == "b":
        return np.dtype(np.uint8)
    if dtype.kind in "iuf":
        return np.dtype(np.float32)
    raise AeganError(f"{path} holds values of type {dtype}: expected numbers (integers, floats or "
                     f"booleans); {SAVE_NUMERIC}")


def arrange(shape: tuple[int, ...], dtype: np.dtype, layout: str, path: Path) -> Arrangement:
    """The Arrangement of an array of `shape` and `dtype` for data.layout=`layout` (or auto)."""
    shape = tuple(int(size) for size in shape)
    ndim, returned = len(shape), sample_dtype(dtype, path)
    rows_fix = "reshape it (array.reshape(len(array), -1) makes a table of it) and save it again"
    if layout == "table" and ndim != 2:
        raise AeganError(f"{path} holds an array of shape {list(shape)}, but data.layout=table needs "
                         f"(N, F): {rows_fix}, or set data.layout=auto")
    if layout == "sequence" and ndim != 3:
        raise AeganError(f"{path} holds an array of shape {list(shape)}, but data.layout=sequence needs "
                         "(N, T, F): reshape it and save it again, or set data.layout=auto")
    if layout == "image" and ndim not in (3, 4):
        raise AeganError(f"{path} holds an array of shape {list(shape)}, but data.layout=image needs "
                         "(N, H, W), (N, C, H, W) or (N, H, W, C): reshape it and save it again")
    if ndim not in (2, 3, 4):
        raise AeganError(f"{path} holds a {ndim}-D array of shape {list(shape)}: expected samples as rows, "
                         f"(N, F) for a table, (N, T, F) for sequences or (N, H, W), (N, C, H, W), "
                         f"(N, H, W, C) for images; {rows_fix}")
    if ndim == 2:
        return Arrangement("table", shape, returned)
    if ndim == 3:
        if layout == "image" or (layout == "auto" and returned == np.uint8):
            return Arrangement("image", (shape[0], 1, shape[1], shape[2]), returned)
        return Arrangement("sequence", shape, returned)
    if shape[1] in CHANNEL_COUNTS:
        return Arrangement("image", shape, returned)
    if shape[3] in CHANNEL_COUNTS:
        return Arrangement("image", (shape[0], shape[3], shape[1], shape[2]), returned, channels_last=True)
    raise AeganError(f"{path} holds images of shape {list(shape)}: expected 1, 3 or 4 channels second "
                     "(N, C, H, W) or last (N, H, W, C); transpose it and save it again")


# --- reading rows lazily --------------------------------------------------------------------------
def row_indices(index, length: int) -> np.ndarray:
    """An int index, a slice, a boolean mask or integer array -> int64 row numbers (negatives
    counted from the end), raising IndexError for rows outside 0..length-1."""
    if isinstance(index, slice):
        return np.arange(*index.indices(length), dtype=np.int64)
    rows = np.asarray(index)
    if rows.dtype == bool:
        return np.flatnonzero(rows).astype(np.int64)
    if rows.dtype.kind not in "iu":
        raise IndexError(f"rows must be given by integers or a slice, not {rows.dtype}")
    rows = rows.astype(np.int64).reshape(-1)
    if len(rows) and (rows.min() < -length or rows.max() >= length):
        raise IndexError(f"row index out of range for {length} samples")
    return np.where(rows < 0, rows + length, rows)


class FileRows:
    """Samples stored as fixed-size rows from `offset` in a file, read on demand with os.pread:
    indexing by an int array or a slice reads those rows (each run of consecutive rows in one
    read) and returns them arranged (cast, and transposed to N, C, H, W when stored channels-last).
    Nothing is kept in memory between reads. Picklable: the file is reopened where it is used."""

    def __init__(self, path: Path, offset: int, stored_dtype: np.dtype, stored_shape: tuple[int, ...],
                 arrangement: Arrangement):
        self.path = Path(path)
        self.offset = int(offset)
        self.stored_dtype = np.dtype(stored_dtype)
        self.item_shape = tuple(stored_shape[1:])
        self.row_bytes = self.stored_dtype.itemsize * math.prod(self.item_shape)
        self.arrangement = arrangement
        self.shape = arrangement.shape
        self.dtype = arrangement.dtype
        self._descriptor = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self[np.array([index])][0]
        rows = row_indices(index, len(self))
        return self.arrangement.apply(self.read_stored(rows))

    def read_stored(self, rows: np.ndarray) -> np.ndarray:
        """The rows numbered `rows`, in that order, as stored (dtype and shape of the file)."""
        out = np.empty((len(rows), *self.item_shape), dtype=self.stored_dtype)
        if len(rows) == 0:
            return out
        buffer = out.reshape(-1).view(np.uint8)
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        for start, stop in zip(np.concatenate([[0], breaks]), np.concatenate([breaks, [len(rows)]])):
            size = int(stop - start) * self.row_bytes
            data = self._pread(size, self.offset + int(rows[start]) * self.row_bytes)
            buffer[int(start) * self.row_bytes:int(start) * self.row_bytes + size] = np.frombuffer(data, np.uint8)
        return out

    def _pread(self, size: int, position: int) -> bytes:
        if self._descriptor is None:
            self._descriptor = os.open(self.path, os.O_RDONLY)
        parts, done = [], 0
        while done < size:
            part = os.pread(self._descriptor, size - done, position + done)
            if not part:
                raise AeganError(f"{self.path} ended at byte {position + done} while reading its samples: "
                                 "the file was truncated or changed while in use; write it again")
            parts.append(part)
            done += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_descriptor": None}

    def __del__(self):
        if getattr(self, "_descriptor", None) is not None:
            try:
                os.close(self._descriptor)
            except OSError:
                pass
            self._descriptor = None


# --- checks -----------------------------------------------------------------------------------------
def pickled_error(path: Path, key: str = "") -> AeganError:
    what = f"{path} (array {key!r})" if key else str(path)
    return AeganError(f"{what} holds Python objects (a pickled or object array), which aegan does not "
                      f"load: {SAVE_NUMERIC}")


def check_sample_count(count: int, path: Path) -> None:
    if count < MIN_SAMPLES:
        raise AeganError(f"{path} holds {count} samples: expected at least {MIN_SAMPLES} (one each for "
                         "training, validation and test); give more samples")


def check_finite(samples, path: Path) -> None:
    """Refuse NaN or infinity anywhere in float samples, reading them a chunk of rows at a time."""
    if samples.dtype.kind != "f" or len(samples) == 0:
        return
    row_bytes = samples.dtype.itemsize * math.prod(samples.shape[1:])
    step = max(1, CHUNK_BYTES // max(1, row_bytes))
    bad = sum(int(np.count_nonzero(~np.isfinite(samples[start:start + step])))
              for start in range(0, len(samples), step))
    if bad:
        raise AeganError(f"{path} holds {bad} values that are NaN or infinite (as float32): replace them "
                         "(for example with numpy.nan_to_num) or drop those samples, and save it again")


def label_indices(values, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels (whole numbers, booleans or names; shape (N,) or (N, 1)) -> class_indices."""
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise AeganError(f"{where} holds labels of shape {list(values.shape)}: expected one label per "
                         "sample (a 1-D array)")
    if values.dtype.kind == "f":
        if not np.isfinite(values).all() or (values != np.round(values)).any():
            raise AeganError(f"{where} holds labels that are not whole numbers: expected class numbers "
                             "or class names, one per sample")
        values = values.astype(np.int64)
    elif values.dtype.kind == "b":
        values = values.astype(np.int64)
    elif values.dtype.kind == "S":
        values = values.astype(str)
    elif values.dtype.kind not in "iuU":
        raise AeganError(f"{where} holds labels of type {values.dtype}: expected class numbers or names")
    if len(values) == 0:
        raise AeganError(f"{where} holds no labels: expected one per sample")
    return class_indices(values)


# --- reading files ----------------------------------------------------------------------------------
def _file_kind(path: Path) -> str:
    """'npy' or 'npz', from the file's first bytes."""
    if path.is_dir():
        raise AeganError(f"{path} is a folder: expected a .npy or .npz file (set data.format=image_folder "
                         "for a folder of images)")
    try:
        with open(path, "rb") as file:
            start = file.read(6)
    except OSError as error:
        raise AeganError(f"{path} cannot be read ({error.strerror}): check data.path") from None
    if start.startswith(NPY_MAGIC):
        return "npy"
    if start.startswith(ZIP_MAGIC):
        return "npz"
    if start[:1] == b"\x80":
        raise pickled_error(path)
    raise AeganError(f"{path} is not a .npy or .npz file (it does not start as one): "
                     f"{SAVE_NUMERIC} or numpy.savez")


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        if "pickle" in str(error):
            raise pickled_error(path) from None
        raise AeganError(f"{path} is not a readable .npy file ({error}): it may be truncated; "
                         f"{SAVE_NUMERIC}") from None
    except (OSError, EOFError) as error:
        raise AeganError(f"{path} is not a readable .npy file ({error}): it may be truncated; "
                         f"{SAVE_NUMERIC}") from None


def _npy_rows(path: Path, layout: str) -> FileRows:
    """A lazy FileRows over a .npy file, from its header alone."""
    with open(path, "rb") as file:
        try:
            version = npy_format.read_magic(file)
            if version == (1, 0):
                shape, fortran_order, dtype = npy_format.read_array_header_1_0(file)
            elif version == (2, 0):
                shape, fortran_order, dtype = npy_format.read_array_header_2_0(file)
            else:
                raise ValueError(f".npy format version {version[0]}.{version[1]}, which is kept for "
                                 "structured arrays")
        except ValueError as error:
            raise AeganError(f"{path} is not a readable .npy file ({error}): {SAVE_NUMERIC}") from None
        offset = file.tell()
    if dtype.hasobject:
        raise pickled_error(path)
    if fortran_order:
        raise AeganError(f"{path} is stored in Fortran (column-major) order, which cannot be read a row at "
                         "a time: save it with numpy.save(path, numpy.ascontiguousarray(array)), or set "
                         "data.stream=never to read it whole")
    arrangement = arrange(shape, dtype, layout, path)
    needed = offset + dtype.itemsize * math.prod(shape)
    if os.path.getsize(path) < needed:
        raise AeganError(f"{path} is truncated: {os.path.getsize(path)} bytes, its header promises {needed}; "
                         "save it again")
    return FileRows(path, offset, dtype, shape, arrangement)


def _npz_arrays(path: Path, config: DataConfig) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(samples, labels or None, the name of the labels array) from an .npz archive."""
    if config.labels_path:
        raise AeganError(f"data.labels_path={config.labels_path!r} is for .npy samples, but {path} is an "
                         "archive: keep the labels in it and name them with data.labels_key")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
            labels_key = _labels_key(keys, config, path)
            samples_key = _samples_key(keys, labels_key, path)
            arrays = {}
            for key in (samples_key, labels_key):
                if key:
                    try:
                        arrays[key] = archive[key]
                    except ValueError as error:
                        if "pickle" in str(error):
                            raise pickled_error(path, key) from None
                        raise
    except AeganError:
        raise
    except Exception as error:  # zipfile, zlib and numpy errors of a damaged archive
        raise AeganError(f"{path} is not a readable .npz archive ({error}): save it again with "
                         "numpy.savez") from None
    return arrays[samples_key], arrays.get(labels_key), labels_key


def _labels_key(keys: list[str], config: DataConfig, path: Path) -> str:
    if config.labels_key:
        if config.labels_key not in keys:
            raise AeganError(f"data.labels_key={config.labels_key!r}: {path} has no such array"
                             f"{closest(config.labels_key, keys)}; its arrays are {', '.join(keys) or 'none'}")
        return config.labels_key
    return next((key for key in LABEL_KEYS if key in keys), "")


def _samples_key(keys: list[str], labels_key: str, path: Path) -> str:
    others = [key for key in keys if key != labels_key]
    if len(others) == 1:
        return others[0]
    found = next((key for key in SAMPLE_KEYS if key in others), None)
    if found is None:
        raise AeganError(f"{path} holds the arrays {', '.join(keys) or '(none)'}: cannot tell the samples "
                         f"(name them one of {', '.join(SAMPLE_KEYS)}) and the labels (one of "
                         f"{', '.join(LABEL_KEYS)}, or set data.labels_key)")
    return found


def _npy_labels(path: Path, config: DataConfig) -> tuple[np.ndarray | None, Path | None]:
    if config.labels_key:
        raise AeganError(f"data.labels_key={config.labels_key!r} names an array in an .npz archive, but "
                         f"{path} is a .npy file: give its labels file with data.labels_path")
    if not config.labels_path:
        return None, None
    labels_path = Path(config.labels_path)
    if not labels_path.is_absolute() and not labels_path.exists() and (path.parent / labels_path).exists():
        labels_path = path.parent / labels_path
    if not labels_path.is_file():
        raise AeganError(f"data.labels_path={config.labels_path!r}: no such file (looked in the current "
                         f"folder and beside {path}); give the .npy file of labels")
    if _file_kind(labels_path) != "npy":
        raise AeganError(f"data.labels_path={config.labels_path!r} is not a .npy file: save the labels "
                         "with numpy.save")
    return _load_npy(labels_path), labels_path


def read(path: Path, config: DataConfig, memory_map: bool = False) -> SourceData:
    """The samples (and labels) of a .npy or .npz file; see the module's docstring."""
    path = Path(path)
    kind = _file_kind(path)
    if kind == "npz":
        stored, labels, labels_key = _npz_arrays(path, config)
        labels_where = f"{path} (array {labels_key!r})"
        arrangement = arrange(stored.shape, stored.dtype, config.layout, path)
        samples = arrangement.apply(stored)
        del stored
    else:
        if memory_map:
            samples = _npy_rows(path, config.layout)
            arrangement = samples.arrangement
        else:
            stored = _load_npy(path)
            arrangement = arrange(stored.shape, stored.dtype, config.layout, path)
            samples = arrangement.apply(stored)
            del stored
        labels, labels_path = _npy_labels(path, config)
        labels_where = str(labels_path)
    check_sample_count(len(samples), path)
    check_finite(samples, path)
    class_names: tuple[str, ...] = ()
    if labels is not None:
        labels, class_names = label_indices(labels, labels_where)
        if len(labels) != len(samples):
            raise AeganError(f"{labels_where} holds {len(labels)} labels but {path} holds {len(samples)} "
                             "samples: give exactly one label per sample")
    return SourceData(samples=samples, layout=arrangement.layout, format=kind, labels=labels,
                      class_names=class_names)
