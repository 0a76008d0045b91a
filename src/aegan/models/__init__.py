"""Model families: the one registry, used by the config, the CLI, the API and run loading.

Each family is a model class that declares what it can do (`capabilities`: encode,
reconstruct, sample, interpolate, score), which loop trains it (`training_loop`) and which
evaluations apply (`evaluations`); its config dataclass sits beside it and resolves itself
for the data (`for_data(spec)`). Adding a family: its file, a preset, a line below, its tests.
"""

from aegan.models.autoencoders import DenseAutoencoder, DenseAutoencoderConfig
from aegan.models.ddpm import DDPM, DDPMConfig
from aegan.models.conv_autoencoder import ConvAutoencoder, ConvAutoencoderConfig
from aegan.models.feature_autoencoder import FeatureAutoencoder, FeatureAutoencoderConfig
from aegan.models.gan import GAN, DCGANConfig, GANConfig
from aegan.models.progan import ProGAN, ProGANConfig
from aegan.models.stylegan import StyleGAN, StyleGANConfig
from aegan.models.recurrent_autoencoder import RecurrentAutoencoder, RecurrentAutoencoderConfig
from aegan.models.vae import ConvVAEConfig, ConvVariationalAutoencoder, VAEConfig, VariationalAutoencoder

# model.kind -> (config class, model class)
MODEL_KINDS = {
    "dense_ae": (DenseAutoencoderConfig, DenseAutoencoder),
    "conv_ae": (ConvAutoencoderConfig, ConvAutoencoder),
    "feature_ae": (FeatureAutoencoderConfig, FeatureAutoencoder),
    "recurrent_ae": (RecurrentAutoencoderConfig, RecurrentAutoencoder),
    "vae": (VAEConfig, VariationalAutoencoder),
    "conv_vae": (ConvVAEConfig, ConvVariationalAutoencoder),
    "gan": (GANConfig, GAN),
    "dcgan": (DCGANConfig, GAN),
    "ddpm": (DDPMConfig, DDPM),
    "progan": (ProGANConfig, ProGAN),
    "stylegan": (StyleGANConfig, StyleGAN),
}
FAMILIES = {kind: model for kind, (_, model) in MODEL_KINDS.items()}


def build_model(config):
    """The model for a resolved model config (config.for_data(spec))."""
    return MODEL_KINDS[config.kind][1](config)


def can_sample(model) -> bool:
    """Whether the model generates new samples from the prior."""
    return "sample" in type(model).capabilities


__all__ = [
    "DDPM", "DDPMConfig", "FAMILIES", "GAN", "ProGAN", "ProGANConfig", "StyleGAN", "StyleGANConfig", "DCGANConfig", "GANConfig", "MODEL_KINDS", "ConvAutoencoder", "ConvAutoencoderConfig",
    "FeatureAutoencoder", "FeatureAutoencoderConfig",
    "RecurrentAutoencoder", "RecurrentAutoencoderConfig", "ConvVAEConfig", "ConvVariationalAutoencoder",
    "DenseAutoencoder", "DenseAutoencoderConfig", "VAEConfig", "VariationalAutoencoder", "build_model", "can_sample",
]
