"""Every data set a run can train on, as train / valid / test splits of one array each.

fashion_mnist  the real Fashion-MNIST (uint8 images, labels), the seed's split
toy3d          the seed's 3-D toy data for the linear autoencoder / PCA (all splits the same 60 points)
npy            an array of your own in a .npy file, (N, ...) floats, e.g. sequences (N, T, F);
               shuffled with the run's seed and split by data.validation_fraction / data.test_fraction
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from aegan.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist
from aegan.errors import AeganError


@dataclass(frozen=True)
class Splits:
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    train_labels: np.ndarray | None = None
    valid_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    source: str = ""

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray | None]:
        if name not in ("train", "valid", "test"):
            raise AeganError(f"unknown split {name!r}: expected 'train', 'valid' or 'test'")
        return getattr(self, name), getattr(self, f"{name}_labels")


def make_toy3d(num_samples: int = 60, seed: int = 4) -> np.ndarray:
    """The seed's 3-D data set: points near a curved 2-D surface, centred (float32)."""
    rng = np.random.default_rng(seed)
    angles = rng.random(num_samples) * 3 * np.pi / 2 - 0.5
    data = np.empty((num_samples, 3))
    data[:, 0] = np.cos(angles) + np.sin(angles) / 2 + 0.05 * rng.standard_normal(num_samples)
    data[:, 1] = np.sin(angles) * 0.7 + 0.05 * rng.standard_normal(num_samples)
    data[:, 2] = data[:, 0] * 0.1 + data[:, 1] * 0.3 + 0.1 * rng.standard_normal(num_samples)
    return (data - data.mean(axis=0)).astype(np.float32)


def load_npy(path: str, validation_fraction: float, test_fraction: float, seed: int) -> Splits:
    file = Path(path)
    if not file.is_file():
        raise AeganError(f"data.path={path!r} does not exist: give the path of a .npy array")
    try:
        array = np.load(file, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise AeganError(f"{path} is not a readable .npy array ({error}): save it with numpy.save") from None
    if array.ndim < 2 or len(array) < 3 or not np.issubdtype(array.dtype, np.number):
        raise AeganError(f"{path} holds an array of shape {array.shape} and type {array.dtype}: "
                         "expected numbers of shape (N, features) or (N, steps, features) with N >= 3")
    if not np.isfinite(array).all():
        raise AeganError(f"{path} contains NaN or infinite values: clean them first")
    order = np.random.default_rng(seed).permutation(len(array))
    array = array[order].astype(np.float32)
    n_valid = max(1, round(len(array) * validation_fraction))
    n_test = max(1, round(len(array) * test_fraction))
    return Splits(train=array[n_valid + n_test:], valid=array[:n_valid], test=array[n_valid:n_valid + n_test],
                  source=str(file))


def load_splits(data, seed: int = 0) -> Splits:
    """The splits a DataConfig names (the training split cut to data.train_subset if set)."""
    splits = _load(data, seed)
    if data.train_subset:
        labels = None if splits.train_labels is None else splits.train_labels[: data.train_subset]
        splits = replace(splits, train=splits.train[: data.train_subset], train_labels=labels)
    return splits


def _load(data, seed: int) -> Splits:
    if data.dataset == "fashion_mnist":
        fashion = load_fashion_mnist(data.data_dir or None)
        return Splits(fashion.train_images, fashion.valid_images, fashion.test_images, fashion.train_labels,
                      fashion.valid_labels, fashion.test_labels, CLASS_NAMES, str(fashion.source))
    if data.dataset == "toy3d":
        points = make_toy3d(data.num_samples)
        return Splits(points, points, points, source="the seed's 3-D toy data (generated)")
    return load_npy(data.path, data.validation_fraction, data.test_fraction, seed)
