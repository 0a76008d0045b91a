"""Fashion-MNIST from its IDX files, found on a search path and checked as it is read."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aegan.data import idx
from aegan.errors import AeganError

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IMAGES_MAGIC, LABELS_MAGIC = idx.IMAGES_MAGIC, idx.LABELS_MAGIC  # 0x00000803 and 0x00000801: unsigned bytes, 3 or 1 dims
VALIDATION_SIZE = 5000  # the seed's split: X_train_full[:5000] is validation
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
HOW_TO_GET = (
    "install it with `apt-get install dataset-fashion-mnist`, or put the four files "
    "{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz from the official Fashion-MNIST "
    "repository into a folder named by $AEGAN_DATA_DIR"
)


@dataclass(frozen=True)
class FashionMNIST:
    """uint8 images (N, 28, 28) and labels (N,) for the seed's three splits."""

    train_images: np.ndarray
    train_labels: np.ndarray
    valid_images: np.ndarray
    valid_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: Path

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in ("train", "valid", "test"):
            raise AeganError(f"unknown split {name!r}: expected 'train', 'valid' or 'test'")
        return getattr(self, f"{name}_images"), getattr(self, f"{name}_labels")


def search_path(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders looked in, in order: $AEGAN_DATA_DIR, the Keras cache, Debian's; an explicit
    `data_dir` is the only folder looked in (it never falls back to another)."""
    if data_dir:
        return [Path(data_dir)]
    folders = []
    if os.environ.get("AEGAN_DATA_DIR"):
        folders.append(Path(os.environ["AEGAN_DATA_DIR"]))
    folders.append(Path.home() / ".keras" / "datasets" / "fashion-mnist")
    folders.append(DEBIAN_DIR)
    return folders


def _file_in(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def find_fashion_mnist(data_dir: str | os.PathLike | None = None) -> Path:
    """The first folder on the search path that holds all four IDX files."""
    folders = search_path(data_dir)
    for folder in folders:
        if all(_file_in(folder, stem) for stem in FILES.values()):
            return folder
    looked = ", ".join(str(f) for f in folders)
    raise AeganError(f"Fashion-MNIST not found (looked in {looked}): {HOW_TO_GET}")


def read_idx(path: Path, magic: int, item_shape: tuple[int, ...]) -> np.ndarray:
    """One IDX file as uint8, checking its magic number, dimensions and length (aegan.data.idx)."""
    return idx.read_idx(path, magic, item_shape, how_to_get=HOW_TO_GET)


def load_fashion_mnist(data_dir: str | os.PathLike | None = None) -> FashionMNIST:
    """Read and check the four files; split the first 5,000 training images off as validation."""
    folder = find_fashion_mnist(data_dir)
    arrays = {}
    for key, stem in FILES.items():
        is_images = key.endswith("images")
        arrays[key] = read_idx(
            _file_in(folder, stem), IMAGES_MAGIC if is_images else LABELS_MAGIC,
            (28, 28) if is_images else (),
        )
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise AeganError(
                f"{folder}: {len(images)} {split} images but {len(labels)} {split} labels; "
                "the files come from different releases: download both again"
            )
    if len(arrays["train_images"]) <= VALIDATION_SIZE:
        raise AeganError(
            f"{folder}: only {len(arrays['train_images'])} training images, expected more than "
            f"{VALIDATION_SIZE} (the first {VALIDATION_SIZE} are the validation split)"
        )
    train_images, train_labels = arrays["train_images"], arrays["train_labels"]
    return FashionMNIST(
        train_images=train_images[VALIDATION_SIZE:], train_labels=train_labels[VALIDATION_SIZE:],
        valid_images=train_images[:VALIDATION_SIZE], valid_labels=train_labels[:VALIDATION_SIZE],
        test_images=arrays["test_images"], test_labels=arrays["test_labels"], source=folder,
    )


def fashion_mnist_spec(source: str = ""):
    """Fashion-MNIST's description without reading it (for code that builds models for it)."""
    from aegan.data.spec import DataSpec

    return DataSpec(layout="image", shape=(1, 28, 28), dtype="uint8", scaling="divide_255",
                    value_range=(0.0, 255.0), class_names=CLASS_NAMES, source=source, format="idx")
