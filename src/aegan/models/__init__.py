"""Model families. MODEL_KINDS maps a config's `model.kind` to (config class, model class)."""

from aegan.models.autoencoders import DenseAutoencoder, DenseAutoencoderConfig
from aegan.models.gan import GAN, DCGANConfig, GANConfig
from aegan.models.conv_autoencoder import ConvAutoencoder, ConvAutoencoderConfig
from aegan.models.recurrent_autoencoder import RecurrentAutoencoder, RecurrentAutoencoderConfig
from aegan.models.vae import ConvVAEConfig, ConvVariationalAutoencoder, VAEConfig, VariationalAutoencoder

MODEL_KINDS = {
    "dense_ae": (DenseAutoencoderConfig, DenseAutoencoder),
    "conv_ae": (ConvAutoencoderConfig, ConvAutoencoder),
    "recurrent_ae": (RecurrentAutoencoderConfig, RecurrentAutoencoder),
    "vae": (VAEConfig, VariationalAutoencoder),
    "conv_vae": (ConvVAEConfig, ConvVariationalAutoencoder),
    "gan": (GANConfig, GAN),
    "dcgan": (DCGANConfig, GAN),
}


def build_model(config):
    """The model for a model config dataclass (any value of MODEL_KINDS)."""
    return MODEL_KINDS[config.kind][1](config)


def can_sample(model) -> bool:
    """Whether the model generates new images from the prior (`model.sample(n, generator)`)."""
    return callable(getattr(model, "sample", None))


__all__ = [
    "GAN", "DCGANConfig", "GANConfig", "MODEL_KINDS", "ConvAutoencoder", "ConvAutoencoderConfig", "RecurrentAutoencoder",
    "RecurrentAutoencoderConfig", "ConvVAEConfig", "ConvVariationalAutoencoder", "DenseAutoencoder",
    "DenseAutoencoderConfig", "VAEConfig", "VariationalAutoencoder", "build_model", "can_sample",
]
