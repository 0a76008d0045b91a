"""aegan: autoencoders and GANs for representation learning and generative learning."""

from aegan.api import encode, plot_codings, plot_reconstructions, train
from aegan.config import RunConfig, load_config, preset_names
from aegan.data import CLASS_NAMES, load_fashion_mnist
from aegan.errors import AeganError
from aegan.models import DenseAutoencoder, DenseAutoencoderConfig, build_model
from aegan.runs import Run

__version__ = "0.1.0"

__all__ = [
    "AeganError", "CLASS_NAMES", "DenseAutoencoder", "DenseAutoencoderConfig", "Run", "RunConfig",
    "build_model", "encode", "load_config", "load_fashion_mnist", "plot_codings",
    "plot_reconstructions", "preset_names", "train",
]
