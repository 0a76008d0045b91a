"""What every reader gives: all samples of one file or folder, before splitting and scaling.

A reader is a function `read(path: Path, config: DataConfig, memory_map: bool) -> SourceData`
in its own module (idx.py, image_folder.py, arrays.py, tables.py). It checks what it reads
and raises an AeganError naming the file and the fix for anything wrong. aegan.data.sources
picks the reader, finds train/valid/test splits or cuts them by fraction, decides the
scaling and builds the DataSpec.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SourceData:
    """samples: anything with len, .shape (N, *sample shape), .dtype and indexing by an integer
    array or a slice giving a numpy array: an ndarray, a np.memmap or a lazy reader (image
    folders decoded on demand). Images are (N, C, H, W); tables (N, F); sequences (N, T, F).
    Stored as uint8 when the source holds bytes, else float32 (float64 is narrowed).

    labels: int64 class indices 0..K-1, one per sample, or None; class_names: K names.
    paths: for folders, the file of each sample (sorted order); feature_names: a table's columns.
    """

    samples: object
    layout: str
    format: str
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    paths: tuple[str, ...] = field(default=())
    feature_names: tuple[str, ...] = ()
    label_column: str = ""

    def __len__(self) -> int:
        return len(self.samples)


def class_indices(names) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels given as names or numbers -> (int64 indices 0..K-1, the K class names, sorted)."""
    values = np.asarray(names)
    if values.dtype.kind in "iu":
        classes = np.unique(values)
        if classes.min() >= 0 and classes.max() < 1000 and len(classes) > 0:
            # whole-number labels keep their own numbers as indices (0..max), as MNIST-style data expects
            return values.astype(np.int64), tuple(str(c) for c in range(int(classes.max()) + 1))
        order = {c: i for i, c in enumerate(classes)}
        return np.array([order[v] for v in values], dtype=np.int64), tuple(str(c) for c in classes)
    strings = np.array([str(v) for v in values])
    classes = tuple(sorted(set(strings.tolist())))
    order = {c: i for i, c in enumerate(classes)}
    return np.array([order[s] for s in strings], dtype=np.int64), classes
