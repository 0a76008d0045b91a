"""aegan: autoencoders and GANs for representation learning and generative learning, on your own data.

The public names below are imported on first use: `import aegan` and `aegan --help` load
neither PyTorch nor matplotlib nor scikit-learn; `aegan.train` loads what training needs.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "encode": "aegan.api",
    "evaluate": "aegan.api",
    "interpolate": "aegan.api",
    "plot_codings": "aegan.api",
    "plot_interpolations": "aegan.api",
    "plot_reconstructions": "aegan.api",
    "plot_samples": "aegan.api",
    "resume": "aegan.api",
    "sample": "aegan.api",
    "score": "aegan.api",
    "train": "aegan.api",
    "RunConfig": "aegan.config",
    "load_config": "aegan.config",
    "preset_names": "aegan.config",
    "CLASS_NAMES": "aegan.data",
    "load_fashion_mnist": "aegan.data",
    "load_splits": "aegan.data.sources",
    "DataSpec": "aegan.data.spec",
    "AeganError": "aegan.errors",
    "DenseAutoencoder": "aegan.models",
    "DenseAutoencoderConfig": "aegan.models",
    "build_model": "aegan.models",
    "Run": "aegan.runs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Import a public name's module when the name is first used; `aegan.api` and the other
    submodules work after a plain `import aegan` too."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"aegan.{name}") is not None:
        value = importlib.import_module(f"aegan.{name}")
    else:
        raise AttributeError(f"module 'aegan' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and editors; at run time the names come from __getattr__
    from aegan.api import (encode, evaluate, interpolate, plot_codings, plot_interpolations, plot_reconstructions,
                           plot_samples, resume, sample, score, train)
    from aegan.config import RunConfig, load_config, preset_names
    from aegan.data import CLASS_NAMES, load_fashion_mnist
    from aegan.data.sources import load_splits
    from aegan.data.spec import DataSpec
    from aegan.errors import AeganError
    from aegan.models import DenseAutoencoder, DenseAutoencoderConfig, build_model
    from aegan.runs import Run
