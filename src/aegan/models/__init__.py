"""Model families. MODEL_KINDS maps a config's `model.kind` to (config class, model class)."""

from aegan.models.autoencoders import DenseAutoencoder, DenseAutoencoderConfig

MODEL_KINDS = {
    "dense_ae": (DenseAutoencoderConfig, DenseAutoencoder),
}


def build_model(config):
    """The model for a model config dataclass (any value of MODEL_KINDS)."""
    return MODEL_KINDS[config.kind][1](config)


__all__ = ["MODEL_KINDS", "DenseAutoencoder", "DenseAutoencoderConfig", "build_model"]
