"""CSV tables as (N, F) float32 samples, every cell checked.

The first row is a header when any of its cells is not a number; otherwise the columns are
named column_0, column_1, ... data.label_column names the column of class labels (names or
numbers), kept out of the features. Every feature cell must be a finite number: a bad cell is
an error naming the file, the line (1-based, as an editor shows it), the column and the text.
"""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aegan.data.source import SourceData, class_indices
from aegan.errors import AeganError, closest

if TYPE_CHECKING:
    from aegan.config import DataConfig


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rows(path: Path):
    """(line number, cells) of each non-blank row; the line is where the row starts."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            line = 1
            try:
                for cells in reader:
                    if cells:
                        yield line, cells
                    line = reader.line_num + 1
            except csv.Error as error:
                raise AeganError(f"{path}, line {reader.line_num}: not valid CSV ({error}): fix that line") from None
    except UnicodeDecodeError as error:
        raise AeganError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start}): save it as "
                         "UTF-8 CSV") from None
    except OSError as error:
        raise AeganError(f"{path} cannot be read ({error.strerror}): check data.path") from None


def _column_names(path: Path, first: list[str]) -> tuple[list[str], bool]:
    """(the column names, whether the first row is a header)."""
    if all(is_number(cell) for cell in first):
        return [f"column_{i}" for i in range(len(first))], False
    names = [cell.strip() or f"column_{i}" for i, cell in enumerate(first)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise AeganError(f"{path}, line 1: the header names the column {repeated[0]!r} more than once: "
                         "give every column its own name")
    return names, True


def _numbers(cells: list[str]) -> np.ndarray | None:
    """The cells as float32, or None when any is not a number or not finite as float32."""
    try:
        with np.errstate(over="ignore"):
            values = np.array([float(cell) for cell in cells], dtype=np.float32)
    except ValueError:
        return None
    return values if np.isfinite(values).all() else None


def _bad_cell(path: Path, line: int, column: str, text: str) -> AeganError:
    if not text.strip():
        what = "an empty cell"
    elif is_number(text) and math.isfinite(float(text)):
        what = f"{text!r} (too large for float32)"
    else:
        what = repr(text)
    return AeganError(f"{path}, line {line}, column {column!r}: {what} is not a finite number: every feature "
                      "cell must hold a number; correct the cell or remove the row")


def _label_values(texts: list[str]) -> np.ndarray:
    """Label texts as whole numbers when all of them are, else as names."""
    try:
        return np.array([int(text) for text in texts], dtype=np.int64)
    except ValueError:
        pass
    try:
        numbers = [float(text) for text in texts]
        if all(math.isfinite(n) and n == round(n) for n in numbers):
            return np.array(numbers, dtype=np.int64)
    except ValueError:
        pass
    return np.array(texts)


def read(path: Path, config: DataConfig, memory_map: bool = False) -> SourceData:
    """The table in the CSV file `path` (memory_map is accepted; a CSV file is always parsed whole)."""
    path = Path(path)
    if path.is_dir():
        raise AeganError(f"{path} is a folder: expected a .csv file")
    rows = _rows(path)
    first = next(rows, None)
    if first is None:
        raise AeganError(f"{path} is empty: expected a CSV table, one sample a row")
    names, has_header = _column_names(path, first[1])
    label_index = None
    if config.label_column:
        if config.label_column not in names:
            raise AeganError(f"data.label_column={config.label_column!r}: {path} has no such column"
                             f"{closest(config.label_column, names)}; its columns are {', '.join(names)}")
        label_index = names.index(config.label_column)
    features = [i for i in range(len(names)) if i != label_index]
    if not features:
        raise AeganError(f"{path} has no feature columns besides the label column {config.label_column!r}: "
                         "give at least one column of numbers")
    width, first_kind = len(names), "header" if has_header else "first row"
    samples, label_texts = [], []
    for line, cells in (rows if has_header else itertools.chain([first], rows)):
        if len(cells) != width:
            raise AeganError(f"{path}, line {line}: {len(cells)} cells, but the {first_kind} has {width}"
                             ": give every row the same number of comma-separated cells")
        values = _numbers([cells[i] for i in features])
        if values is None:
            bad = next(i for i in features if _numbers([cells[i]]) is None)
            raise _bad_cell(path, line, names[bad], cells[bad])
        samples.append(values)
        if label_index is not None:
            text = cells[label_index].strip()
            if not text:
                raise AeganError(f"{path}, line {line}, column {config.label_column!r}: an empty label: give "
                                 "every row a class label")
            label_texts.append(text)
    if not samples:
        raise AeganError(f"{path} has a header but no data rows: expected one sample a row")
    labels, class_names = None, ()
    if label_index is not None:
        labels, class_names = class_indices(_label_values(label_texts))
    return SourceData(samples=np.stack(samples), layout="table", format="csv", labels=labels,
                      class_names=class_names, feature_names=tuple(names[i] for i in features),
                      label_column=config.label_column)
