"""The data's own description: what one sample looks like and how it is scaled for a model.

Every source yields a `DataSpec` beside its splits, and a run folder records it
(`data_spec.json`), so that models, plots, evaluation and sampling read the sample shape,
channels, value range and classes from it, and data given to a finished run is checked
against it.

    layout    "image" (shape (C, H, W)), "table" ((F,)) or "sequence" ((T, F))
    dtype     how samples are stored: "uint8" stays uint8 in memory and is scaled per batch
    scaling   "divide_255" (uint8 -> [0, 1]), "none" (floats already in [0, 1] or used as
              they are), "standardize" ((x - mean) / std with statistics of the training split,
              per channel for images, per feature for tables and sequences)
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from aegan.errors import AeganError

LAYOUTS = ("image", "table", "sequence")
SCALINGS = ("divide_255", "none", "standardize")


@dataclass(frozen=True)
class DataSpec:
    layout: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    scaling: str = "none"
    value_range: tuple[float, float] = (0.0, 1.0)  # of the stored values in the training split
    mean: tuple[float, ...] = ()  # standardize: one per channel (image) or feature (table, sequence)
    std: tuple[float, ...] = ()
    class_names: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()  # a table's columns (the label column left out)
    label_column: str = ""
    source: str = ""
    format: str = ""  # the reader that produced it: idx, image_folder, npy, npz, csv, toy3d

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise AeganError(f"data layout {self.layout!r}: expected one of {', '.join(LAYOUTS)}")
        if self.scaling not in SCALINGS:
            raise AeganError(f"data scaling {self.scaling!r}: expected one of {', '.join(SCALINGS)}")
        expected = {"image": 3, "table": 1, "sequence": 2}[self.layout]
        if len(self.shape) != expected or min(self.shape) <= 0:
            raise AeganError(f"{self.layout} samples of shape {list(self.shape)}: expected {expected} positive sizes")
        if self.scaling == "standardize" and len(self.mean) != self.stat_size:
            raise AeganError(f"standardize needs {self.stat_size} means and deviations, got {len(self.mean)}")

    # --- what callers ask --------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def has_labels(self) -> bool:
        return bool(self.class_names)

    @property
    def is_image(self) -> bool:
        return self.layout == "image"

    @property
    def channels(self) -> int:
        return self.shape[0] if self.is_image else 0

    @property
    def num_features(self) -> int:
        return math.prod(self.shape)

    @property
    def unit_range(self) -> bool:
        """Whether the model sees values in [0, 1] (sigmoid outputs and BCE fit them)."""
        return self.scaling == "divide_255" or (self.scaling == "none" and self.value_range[0] >= 0
                                                 and self.value_range[1] <= 1)

    @property
    def stat_size(self) -> int:
        """How many means a standardisation has: channels, or features per step."""
        return self.shape[0] if self.layout == "image" else self.shape[-1]

    def describe(self) -> str:
        shape = "x".join(str(s) for s in self.shape)
        labels = f", {self.num_classes} classes" if self.has_labels else ", no labels"
        return f"{self.layout} {shape} ({self.dtype}, {self.scaling}{labels})"

    # --- scaling -----------------------------------------------------------------------------
    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (-1, 1, 1) if self.layout == "image" else (-1,)
        mean = torch.tensor(self.mean, dtype=like.dtype, device=like.device).view(shape)
        std = torch.tensor(self.std, dtype=like.dtype, device=like.device).view(shape)
        return mean, std

    def to_model(self, batch) -> torch.Tensor:
        """Stored samples (a numpy array or tensor, uint8 or float) as the model's float32 inputs."""
        tensor = batch if torch.is_tensor(batch) else torch.from_numpy(np.ascontiguousarray(batch))
        if self.scaling == "divide_255":
            scaled = tensor.to(torch.float32)
            return scaled.div_(255.0) if scaled is not tensor else scaled / 255.0
        tensor = tensor.to(torch.float32)
        if self.scaling == "standardize":
            mean, std = self._stats(tensor)
            return (tensor - mean) / std
        return tensor

    def from_model(self, values: torch.Tensor) -> torch.Tensor:
        """Model outputs back in the data's own units (floats; images of uint8 data in [0, 1])."""
        if self.scaling == "standardize":
            mean, std = self._stats(values)
            return values * std + mean
        return values

    # --- a finished run's data ----------------------------------------------------------------
    def check_compatible(self, other: "DataSpec", what: str) -> None:
        """Refuse data (described by `other`) that the run of this spec cannot take."""
        if other.layout != self.layout or tuple(other.shape) != tuple(self.shape):
            raise AeganError(
                f"{what} holds {other.describe()} samples, but the run was trained on {self.describe()}: "
                + _fix(self))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "DataSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names}
        return cls(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)


def _fix(spec: DataSpec) -> str:
    if spec.is_image:
        c, h, w = spec.shape
        kind = "RGB" if c == 3 else "grayscale" if c == 1 else f"{c}-channel"
        return f"give {kind} images of {h}x{w} pixels (when training: --set data.channels={c} converts them)"
    return f"give samples of shape {list(spec.shape)}"


def standardization(samples, layout: str, batch_size: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and standard deviation per channel (images) or per feature (tables, sequences),
    computed in float64 over batches (so memory-mapped data is never read whole)."""
    axis_of_stat = 1 if layout == "image" else -1
    total = count = 0
    sum_ = sum_sq = None
    for start in range(0, len(samples), batch_size):
        chunk = np.asarray(samples[start:start + batch_size], dtype=np.float64)
        chunk = np.moveaxis(chunk, axis_of_stat, -1).reshape(-1, chunk.shape[axis_of_stat])
        sum_ = chunk.sum(0) if sum_ is None else sum_ + chunk.sum(0)
        sum_sq = (chunk ** 2).sum(0) if sum_sq is None else sum_sq + (chunk ** 2).sum(0)
        count += len(chunk)
        total += 1
    mean = sum_ / count
    variance = np.maximum(sum_sq / count - mean ** 2, 0.0)
    std = np.sqrt(variance)
    std[std < 1e-8] = 1.0  # a constant feature: centred, not divided by zero
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


@dataclass(frozen=True)
class Split:
    """One split: samples (an array, a memory map or a lazy reader: anything with len, shape,
    dtype and indexing by an integer array), labels when there are any, and the file of each
    sample for image folders."""

    samples: object
    labels: np.ndarray | None = None
    paths: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.samples)
