"""Data sets that aegan reads: Fashion-MNIST from its IDX files."""

from aegan.data.fashion_mnist import (
    CLASS_NAMES,
    FashionMNIST,
    find_fashion_mnist,
    load_fashion_mnist,
    read_idx,
    search_path,
)

__all__ = [
    "CLASS_NAMES", "FashionMNIST", "find_fashion_mnist", "load_fashion_mnist", "read_idx",
    "search_path",
]
