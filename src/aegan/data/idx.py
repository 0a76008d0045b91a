"""MNIST-style IDX files (MNIST, Fashion-MNIST, EMNIST, KMNIST, ...), gzipped or raw.

An IDX file is a big-endian header, the magic number 0x000008DD (08: unsigned bytes, DD: the
number of dimensions) and one 4-byte size per dimension, followed by the bytes themselves.
aegan reads unsigned-byte files only: images 0x00000803 (N, H, W) and labels 0x00000801 (N,).
An images file's labels are found by the naming convention
(train-images-idx3-ubyte.gz -> train-labels-idx1-ubyte.gz).
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aegan.data.arrays import Arrangement, FileRows
from aegan.data.source import SourceData, class_indices
from aegan.errors import AeganError

if TYPE_CHECKING:
    from aegan.config import DataConfig

IMAGES_MAGIC, LABELS_MAGIC = 0x0803, 0x0801  # unsigned bytes with 3 or 1 dimensions
MAGICS = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
SPLIT_PREFIXES = {"train": "train", "test": "t10k"}
IMAGE_NAME_FORMS = ("{prefix}-images-idx3-ubyte", "{prefix}-images.idx3-ubyte")  # the second: MNIST mirrors, EMNIST


def _read_bytes(path: Path, how_to_get: str) -> bytearray:
    try:
        if path.suffix == ".gz":
            return bytearray(gzip.decompress(path.read_bytes()))
        return bytearray(path.read_bytes())
    except (EOFError, OSError, zlib.error) as error:
        raise AeganError(f"{path} is damaged ({error}): download it again{how_to_get}") from None


def _parse_header(head: bytes, total_size: int, path: Path, magic: int | None,
                  item_shape: tuple[int, ...] | None, how_to_get: str = "") -> tuple[tuple[int, ...], int]:
    """(dims, data offset) of an IDX file whose first bytes are `head` and whose (decompressed)
    size is `total_size`, checking the magic number, the item shape and the length."""
    ndim = (len(item_shape) + 1) if (magic is not None and item_shape is not None) else None
    if total_size < 4 or (ndim and total_size < 4 + 4 * ndim):
        raise AeganError(f"{path} is truncated ({total_size} bytes, no full IDX header): "
                         f"download it again{how_to_get}")
    found_magic = int.from_bytes(head[:4], "big")
    if magic is not None and found_magic != magic:
        raise AeganError(
            f"{path} has magic number {found_magic:#010x}, expected {magic:#010x}: "
            "it is not this IDX file (images and labels swapped, or another format)"
        )
    if found_magic not in MAGICS:
        raise AeganError(f"{path} has magic number {found_magic:#010x}, expected {IMAGES_MAGIC:#010x} "
                         f"(images) or {LABELS_MAGIC:#010x} (labels): it is not an unsigned-byte IDX file")
    ndim = found_magic & 0xFF
    if total_size < 4 + 4 * ndim:
        raise AeganError(f"{path} is truncated ({total_size} bytes, no full IDX header): "
                         f"download it again{how_to_get}")
    dims = tuple(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if item_shape is not None and tuple(dims[1:]) != tuple(item_shape):
        raise AeganError(f"{path} holds items of shape {tuple(dims[1:])}, expected {tuple(item_shape)}")
    offset = 4 + 4 * ndim
    expected = math.prod(dims)
    if total_size - offset != expected:
        raise AeganError(
            f"{path} is truncated or padded: {total_size - offset} data bytes, the header "
            f"promises {expected} ({dims[0]} items); download it again{how_to_get}"
        )
    return dims, offset


def read_idx(path: Path, magic: int | None = None, item_shape: tuple[int, ...] | None = None, *,
             how_to_get: str = "") -> np.ndarray:
    """One IDX file (gzipped when its name ends in .gz) as a uint8 array (N, *item shape).

    magic: the expected magic number (None: images or labels, whichever the file holds);
    item_shape: the expected shape of one item (None: what the header says). how_to_get is
    added to the fix of damaged or truncated files."""
    path = Path(path)
    how_to_get = f"; {how_to_get}" if how_to_get else ""
    raw = _read_bytes(path, how_to_get)
    dims, offset = _parse_header(raw, len(raw), path, magic, item_shape, how_to_get)
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def _lazy_images(path: Path) -> FileRows:
    """The images of a raw (not gzipped) IDX file as (N, 1, H, W) rows read on demand."""
    with open(path, "rb") as file:
        head = file.read(16)
    dims, offset = _parse_header(head, os.path.getsize(path), path, IMAGES_MAGIC, None)
    shape = (dims[0], 1, dims[1], dims[2])
    return FileRows(path, offset, np.dtype(np.uint8), dims, Arrangement("image", shape, np.dtype(np.uint8)))


def labels_file_for(images_path: Path) -> Path | None:
    """The labels file beside an images file, by the naming convention, or None.
    train-images-idx3-ubyte[.gz] -> train-labels-idx1-ubyte[.gz] (raw preferred, either works);
    train-images.idx3-ubyte -> train-labels.idx1-ubyte."""
    images_path = Path(images_path)
    name = images_path.name.removesuffix(".gz")
    labels_name = name.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1")
    if labels_name == name:
        return None
    for candidate in (labels_name, labels_name + ".gz"):
        if (images_path.parent / candidate).is_file():
            return images_path.parent / candidate
    return None


def _images_file(folder: Path, prefix: str) -> Path | None:
    """The images file of one split: the standard names first (raw before .gz), else the one
    file whose name ends in them (e.g. emnist-digits-train-images-idx3-ubyte.gz)."""
    names = [form.format(prefix=prefix) for form in IMAGE_NAME_FORMS]
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    endings = tuple(f"-{name}{suffix}" for name in names for suffix in ("", ".gz"))
    matches = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(endings))
    if len(matches) > 1:
        raise AeganError(f"{folder} holds several {prefix} images files ({', '.join(p.name for p in matches)}): "
                         "point data.path at one of them")
    return matches[0] if matches else None


def find_split_files(folder: Path) -> dict[str, tuple[Path, Path | None]]:
    """{"train": (images, labels or None), "test": (...)} for the IDX splits found in `folder`;
    splits without an images file are left out (an empty dict when there is none)."""
    folder = Path(folder)
    splits = {}
    for split, prefix in SPLIT_PREFIXES.items():
        images = _images_file(folder, prefix)
        if images is not None:
            splits[split] = (images, labels_file_for(images))
    return splits


def read(path: Path, config: DataConfig, memory_map: bool = False) -> SourceData:
    """One IDX images file as (N, 1, H, W) uint8 samples, with the labels of its labels file
    (data.labels_path, else found by name; none when there is none) as digit classes "0".."K-1".
    memory_map=True reads a raw file's rows on demand; a gzipped file is always read whole."""
    path = Path(path)
    if path.is_dir():
        raise AeganError(f"{path} is a folder: give one IDX images file, such as "
                         f"{path / 'train-images-idx3-ubyte.gz'}")
    if not path.is_file():
        raise AeganError(f"{path}: no such file; give an IDX images file (such as train-images-idx3-ubyte.gz)")
    if memory_map and path.suffix != ".gz":
        samples = _lazy_images(path)
    else:
        samples = read_idx(path, IMAGES_MAGIC)[:, None]
    if len(samples) == 0:
        raise AeganError(f"{path} holds no images: give a file with images in it")
    labels_path = Path(config.labels_path) if config.labels_path else labels_file_for(path)
    if labels_path is None:
        return SourceData(samples=samples, layout="image", format="idx")
    if not labels_path.is_file():
        raise AeganError(f"data.labels_path={config.labels_path!r}: no such file; give the IDX labels file "
                         f"of {path.name}")
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(labels) != len(samples):
        raise AeganError(f"{path} holds {len(samples)} images but {labels_path} holds {len(labels)} labels: "
                         "the files do not belong together; give the labels file released with the images")
    labels, class_names = class_indices(labels)
    return SourceData(samples=samples, layout="image", format="idx", labels=labels, class_names=class_names)
