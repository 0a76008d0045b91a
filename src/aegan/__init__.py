"""aegan: autoencoders and GANs for representation learning and generative learning, on your own data."""

from aegan.api import (
    encode,
    evaluate,
    interpolate,
    plot_codings,
    plot_interpolations,
    plot_reconstructions,
    plot_samples,
    resume,
    sample,
    score,
    train,
)
from aegan.config import RunConfig, load_config, preset_names
from aegan.data import CLASS_NAMES, load_fashion_mnist
from aegan.data.sources import load_splits
from aegan.data.spec import DataSpec
from aegan.errors import AeganError
from aegan.models import DenseAutoencoder, DenseAutoencoderConfig, build_model
from aegan.runs import Run

__version__ = "0.1.0"

__all__ = [
    "AeganError", "CLASS_NAMES", "DataSpec", "DenseAutoencoder", "DenseAutoencoderConfig", "Run", "RunConfig",
    "build_model", "encode", "evaluate", "interpolate", "load_config", "load_fashion_mnist", "load_splits",
    "plot_codings", "plot_interpolations", "plot_reconstructions", "plot_samples", "preset_names", "resume", "sample",
    "score", "train",
]
