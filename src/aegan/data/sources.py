"""Every data source a run can train on, as train / valid / test splits with their description.

    built in     fashion_mnist (the default: the seed's split, 5,000 validation images) and
                 toy3d (the seed's 3-D points for the linear autoencoder / PCA)
    data.path    a folder of images (one subfolder per class gives labels), a .npy / .npz array,
                 a .csv table, MNIST-style IDX files, or a folder holding train/valid/test of
                 any of these; the format is detected from the path unless data.format names it

Splits come from `train`, `valid` (or `val`, `validation`) and `test` entries when the path has
them, else are cut by data.validation_fraction / data.test_fraction with the run's seed,
stratified when there are labels. The scaling is decided here (uint8: divided by 255; floats in
[0, 1]: as they are; other floats: standardised with the training split's statistics), and the
data are kept in memory as stored (uint8 stays uint8) unless they are streamed from disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from aegan.data.source import SourceData
from aegan.data.spec import DataSpec, Split, standardization
from aegan.errors import AeganError

SPLIT_NAMES = {"train": ("train",), "valid": ("valid", "val", "validation"), "test": ("test",)}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
FORMAT_OF_SUFFIX = {".npy": "npy", ".npz": "npz", ".csv": "csv"}


@dataclass(frozen=True)
class Splits:
    train: Split
    valid: Split
    test: Split
    spec: DataSpec
    streamed: bool = False

    def split(self, name: str) -> Split:
        if name not in SPLIT_NAMES:
            raise AeganError(f"unknown split {name!r}: expected 'train', 'valid' or 'test'")
        return getattr(self, name)


class Subset:
    """Rows `index` of lazily read samples, read only when asked for."""

    def __init__(self, samples, index: np.ndarray):
        self.samples, self.index = samples, np.asarray(index, dtype=np.int64)
        self.shape, self.dtype = (len(self.index), *samples.shape[1:]), samples.dtype

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key) -> np.ndarray:
        return self.samples[self.index[key]]


# --- reading -------------------------------------------------------------------------------

def _reader(format_: str):
    from aegan.data import arrays, idx, image_folder, tables

    return {"image_folder": image_folder.read, "npy": arrays.read, "npz": arrays.read, "csv": tables.read,
            "idx": idx.read}[format_]


def _looks_like_idx(path: Path) -> bool:
    return "idx" in path.name and "ubyte" in path.name


def detect_format(path: Path) -> str:
    """The reader for a file or folder, from its name (a folder: from what it holds)."""
    if path.is_file():
        if path.suffix.lower() in FORMAT_OF_SUFFIX:
            return FORMAT_OF_SUFFIX[path.suffix.lower()]
        if _looks_like_idx(path):
            return "idx"
        if path.suffix.lower() in IMAGE_SUFFIXES:
            raise AeganError(f"data.path={str(path)!r} is one image: give the folder that holds the images")
        raise AeganError(f"data.path={str(path)!r}: cannot tell its format from the name; expected a folder of "
                         "images, .npy, .npz, .csv or IDX files, or set data.format")
    if any(_looks_like_idx(child) for child in path.iterdir() if child.is_file()):
        return "idx"
    return "image_folder"


def _split_entries(folder: Path) -> dict[str, Path]:
    """train / valid / test subfolders or files (train.npy, train.csv, ...) of a folder."""
    found = {}
    children = {child.stem.lower() if child.is_file() else child.name.lower(): child
                for child in folder.iterdir() if not child.name.startswith(".")}
    for split, names in SPLIT_NAMES.items():
        for name in names:
            if name in children:
                found[split] = children[name]
                break
    return found if "train" in found else {}


def _read(path: Path, config, memory_map: bool) -> SourceData:
    format_ = config.format if config.format != "auto" else detect_format(path)
    return _reader(format_)(path, config, memory_map=memory_map)


def _check_path(config) -> Path:
    path = Path(config.path).expanduser()
    if not path.exists():
        raise AeganError(f"data.path={config.path!r} does not exist: give a folder of images, a .npy, .npz or "
                         ".csv file, or IDX files")
    if path.is_dir() and not any(child for child in path.iterdir() if not child.name.startswith(".")):
        raise AeganError(f"data.path={config.path!r} is an empty folder: put images (one subfolder per class "
                         "for labels) or data files in it")
    return path


# --- splitting -----------------------------------------------------------------------------

def _fraction_split(labels: np.ndarray | None, count: int, config, seed: int) -> dict[str, np.ndarray]:
    """Sorted indices of train / valid / test, stratified by label when every class can be."""
    n_valid = max(1, round(count * config.validation_fraction))
    n_test = max(1, round(count * config.test_fraction))
    if count - n_valid - n_test < 1:
        raise AeganError(f"only {count} samples: too few to split into train, valid and test; give more data")
    indices = np.arange(count)
    rng = np.random.default_rng(seed)
    stratify = labels is not None and np.bincount(labels).min(initial=count) >= 3 and \
        min(n_valid, n_test) >= len(np.unique(labels))
    if stratify:
        from sklearn.model_selection import train_test_split

        rest, test = train_test_split(indices, test_size=n_test, stratify=labels, random_state=seed)
        train, valid = train_test_split(rest, test_size=n_valid, stratify=labels[rest], random_state=seed + 1)
    else:
        order = rng.permutation(count)
        valid, test, train = order[:n_valid], order[n_valid:n_valid + n_test], order[n_valid + n_test:]
    return {"train": np.sort(train), "valid": np.sort(valid), "test": np.sort(test)}


def _take(data: SourceData, index: np.ndarray | None) -> SourceData:
    if index is None:
        return data
    labels = None if data.labels is None else data.labels[index]
    paths = tuple(data.paths[i] for i in index) if data.paths else ()
    return replace(data, samples=Subset(data.samples, index), labels=labels, paths=paths)


def _align_classes(parts: dict[str, SourceData]) -> dict[str, SourceData]:
    """Labels of valid/test re-indexed by the training split's class names."""
    train = parts["train"]
    if train.labels is None:
        return {name: replace(part, labels=None, class_names=()) for name, part in parts.items()}
    position = {name: i for i, name in enumerate(train.class_names)}
    aligned = {"train": train}
    for name, part in parts.items():
        if name == "train":
            continue
        if part.labels is None:
            raise AeganError(f"the {name} split has no labels but the train split has: give both labels or neither")
        unknown = sorted(set(part.class_names) - set(position))
        if unknown:
            raise AeganError(f"the {name} split has classes {unknown} that the train split lacks: add training "
                             "samples of those classes")
        mapping = np.array([position[c] for c in part.class_names], dtype=np.int64)
        aligned[name] = replace(part, labels=mapping[part.labels], class_names=train.class_names)
    return aligned


# --- scaling and the description -------------------------------------------------------------

def _value_range(samples, batch_size: int = 8192) -> tuple[float, float]:
    low, high = np.inf, -np.inf
    for start in range(0, len(samples), batch_size):
        chunk = np.asarray(samples[start:start + batch_size])
        low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
    return low, high


def describe(train: SourceData, config, source: str, scaling: str | None = None) -> DataSpec:
    """The DataSpec of data whose training split is `train`."""
    dtype = "uint8" if np.dtype(train.samples.dtype) == np.uint8 else "float32"
    value_range = _value_range(train.samples)
    chosen = scaling or config.scaling
    if chosen == "auto":
        if dtype == "uint8":
            chosen = "divide_255"
        elif value_range[0] >= 0 and value_range[1] <= 1:
            chosen = "none"
        else:
            chosen = "standardize"
    mean = std = ()
    if chosen == "standardize":
        mean, std = standardization(train.samples, train.layout)
    return DataSpec(layout=train.layout, shape=tuple(int(s) for s in train.samples.shape[1:]), dtype=dtype,
                    scaling=chosen, value_range=value_range, mean=mean, std=std, class_names=train.class_names,
                    feature_names=train.feature_names, label_column=train.label_column, source=source,
                    format=train.format)


def _memory_limit() -> int:
    """Bytes of data kept in memory before `stream = "auto"` streams it: a quarter of physical memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def _nbytes(samples) -> int:
    return int(np.prod(samples.shape, dtype=np.int64)) * np.dtype(samples.dtype).itemsize


def _in_memory(part: SourceData) -> Split:
    samples = part.samples
    if not isinstance(samples, np.ndarray):
        samples = np.asarray(samples[0:len(samples)])
    return Split(samples=samples, labels=part.labels, paths=part.paths)


def _as_split(part: SourceData, streamed: bool) -> Split:
    return Split(samples=part.samples, labels=part.labels, paths=part.paths) if streamed else _in_memory(part)


# --- the entry points ----------------------------------------------------------------------

def load_splits(config, seed: int = 0) -> Splits:
    """The splits a DataConfig names (the training split cut to data.train_subset if set)."""
    builtin = config.builtin
    if builtin == "fashion_mnist":
        splits = _fashion_mnist(config)
    elif builtin == "toy3d":
        splits = _toy3d(config)
    else:
        splits = _from_path(config, seed)
    if config.train_subset:
        train = splits.train
        keep = slice(0, min(config.train_subset, len(train)))
        samples = train.samples[keep] if isinstance(train.samples, np.ndarray) else Subset(
            train.samples, np.arange(len(train))[keep])
        splits = replace(splits, train=Split(samples, None if train.labels is None else train.labels[keep],
                                             train.paths[keep] if train.paths else ()))
    return splits


def _from_path(config, seed: int) -> Splits:
    path = _check_path(config)
    entries = _split_entries(path) if path.is_dir() and config.format in ("auto", "image_folder", "npy", "npz",
                                                                           "csv") else {}
    if path.is_dir() and not entries and (config.format == "idx" or detect_format(path) == "idx"):
        return _idx_folder(path, config, seed)
    if entries:
        parts = {name: _read(entry, config, memory_map=True) for name, entry in entries.items()}
        source = str(path)
    else:
        parts = {"whole": _read(path, config, memory_map=True)}
        source = str(path)
    parts = _cut_missing(parts, config, seed)
    parts = _align_classes(parts)
    for name in ("valid", "test"):
        if parts[name].samples.shape[1:] != parts["train"].samples.shape[1:] or parts[name].layout != parts["train"].layout:
            raise AeganError(f"the {name} split holds samples of shape {list(parts[name].samples.shape[1:])} but the "
                             f"train split {list(parts['train'].samples.shape[1:])}: give splits of one shape")
    return _finish(parts, config, source)


def _cut_missing(parts: dict[str, SourceData], config, seed: int) -> dict[str, SourceData]:
    """valid and test cut from the training data by fraction where the data have none of their own."""
    whole = parts.pop("whole", None) or parts["train"]
    if "valid" in parts and "test" in parts:
        return parts
    index = _fraction_split(whole.labels, len(whole), config, seed)
    if "valid" not in parts and "test" not in parts:
        return {name: _take(whole, index[name]) for name in ("train", "valid", "test")}
    missing = "valid" if "valid" not in parts else "test"
    keep = np.sort(np.concatenate([index["train"], index["test" if missing == "valid" else "valid"]]))
    return {**parts, "train": _take(whole, keep), missing: _take(whole, index[missing])}


def _finish(parts: dict[str, SourceData], config, source: str, scaling: str | None = None) -> Splits:
    train = parts["train"]
    if len(train) < 1:
        raise AeganError(f"{source}: the training split is empty: give more data")
    spec = describe(train, config, source, scaling)
    total = sum(_nbytes(part.samples) for part in parts.values())
    streamed = config.stream == "always" or (config.stream == "auto" and total > _memory_limit())
    return Splits(**{name: _as_split(parts[name], streamed) for name in ("train", "valid", "test")}, spec=spec,
                  streamed=streamed)


def _idx_folder(path: Path, config, seed: int) -> Splits:
    from aegan.data import idx

    files = idx.find_split_files(path)
    if "train" not in files:
        raise AeganError(f"{path} holds IDX files but no train-images-idx3-ubyte: name the files as MNIST does")
    parts = {name: idx.read(images, config, memory_map=False) for name, (images, _) in files.items()}
    parts = _align_classes(_cut_missing(parts, config, seed))
    return _finish(parts, config, str(path))


def _fashion_mnist(config) -> Splits:
    from aegan.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist

    fashion = load_fashion_mnist(config.data_dir or None)
    parts = {name: SourceData(samples=getattr(fashion, f"{name}_images")[:, None], layout="image", format="idx",
                              labels=getattr(fashion, f"{name}_labels").astype(np.int64), class_names=CLASS_NAMES)
             for name in ("train", "valid", "test")}
    return _finish(parts, replace(config, stream="never"), str(fashion.source), scaling="divide_255")


def make_toy3d(num_samples: int = 60, seed: int = 4) -> np.ndarray:
    """The seed's 3-D data set: points near a curved 2-D surface, centred (float32)."""
    rng = np.random.default_rng(seed)
    angles = rng.random(num_samples) * 3 * np.pi / 2 - 0.5
    data = np.empty((num_samples, 3))
    data[:, 0] = np.cos(angles) + np.sin(angles) / 2 + 0.05 * rng.standard_normal(num_samples)
    data[:, 1] = np.sin(angles) * 0.7 + 0.05 * rng.standard_normal(num_samples)
    data[:, 2] = data[:, 0] * 0.1 + data[:, 1] * 0.3 + 0.1 * rng.standard_normal(num_samples)
    return (data - data.mean(axis=0)).astype(np.float32)


def _toy3d(config) -> Splits:
    points = SourceData(samples=make_toy3d(config.num_samples), layout="table", format="toy3d",
                        feature_names=("x1", "x2", "x3"))
    parts = {"train": points, "valid": points, "test": points}  # the seed uses all 60 points everywhere
    return _finish(parts, replace(config, stream="never"), "the seed's 3-D toy data (generated)", scaling="none")


def read_for_run(path: str, spec: DataSpec, config) -> tuple[Split, DataSpec]:
    """Data given to a finished run (encode, reconstruct, score): read like its training data and
    checked against the run's description. A table keeps the run's standardisation."""
    file = Path(path).expanduser()
    if not file.exists():
        raise AeganError(f"{path} does not exist: give a folder of images or a .npy, .npz or .csv file")
    run_config = replace(config, path=str(file), dataset="", format="auto", stream="never")
    data = _read(file, run_config, memory_map=False)
    given = DataSpec(layout=data.layout, shape=tuple(int(s) for s in data.samples.shape[1:]),
                     dtype="uint8" if np.dtype(data.samples.dtype) == np.uint8 else "float32", scaling="none",
                     class_names=data.class_names, feature_names=data.feature_names)
    spec.check_compatible(given, str(path))
    if spec.feature_names and data.feature_names and tuple(data.feature_names) != tuple(spec.feature_names):
        raise AeganError(f"{path} has the columns {list(data.feature_names)}, the run was trained on "
                         f"{list(spec.feature_names)}: give a table with the run's columns")
    return _in_memory(data), spec
