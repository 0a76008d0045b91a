"""Dense autoencoders: the seed's stacked autoencoder and its linear (PCA) special case."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aegan.errors import AeganError

ACTIVATIONS = {"selu": nn.SELU, "relu": nn.ReLU, "linear": nn.Identity}
RECONSTRUCTION_LOSSES = ("binary_crossentropy", "mse")


@dataclass(frozen=True)
class DenseAutoencoderConfig:
    kind: str = "dense_ae"
    input_shape: tuple[int, ...] = (28, 28)
    hidden_sizes: tuple[int, ...] = (100,)
    coding_size: int = 30
    activation: str = "selu"
    # binary_crossentropy: sigmoid outputs, inputs in [0, 1]; mse: linear outputs
    reconstruction_loss: str = "binary_crossentropy"

    def __post_init__(self):
        for name in ("input_shape", "hidden_sizes"):
            if any(size <= 0 for size in getattr(self, name)):
                raise AeganError(f"model.{name}={list(getattr(self, name))}: expected positive sizes")
        if not self.input_shape:
            raise AeganError("model.input_shape=[]: expected at least one dimension, e.g. [28, 28]")
        if self.coding_size <= 0:
            raise AeganError(f"model.coding_size={self.coding_size}: expected a positive whole number")
        if self.activation not in ACTIVATIONS:
            raise AeganError(f"model.activation={self.activation!r}: expected one of {', '.join(ACTIVATIONS)}")
        if self.reconstruction_loss not in RECONSTRUCTION_LOSSES:
            raise AeganError(
                f"model.reconstruction_loss={self.reconstruction_loss!r}: "
                f"expected one of {', '.join(RECONSTRUCTION_LOSSES)}"
            )


def glorot_uniform_(linear: nn.Linear) -> nn.Linear:
    """Keras' default Dense initialisation (Glorot uniform weights, zero biases)."""
    limit = math.sqrt(6.0 / (linear.in_features + linear.out_features))
    nn.init.uniform_(linear.weight, -limit, limit)
    nn.init.zeros_(linear.bias)
    return linear


def dense_stack(sizes: list[int], activation: str, last_activation: bool) -> nn.Sequential:
    layers = []
    for index, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(glorot_uniform_(nn.Linear(size_in, size_out)))
        if last_activation or index < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class DenseAutoencoder(nn.Module):
    """Flatten, dense layers down to the codings, mirrored dense layers back up, Reshape.

    `decode` returns probabilities for a binary cross-entropy model (sigmoid outputs);
    `decode_logits` returns the last layer's pre-activation, used by the loss.
    """

    def __init__(self, config: DenseAutoencoderConfig):
        super().__init__()
        self.config = config
        self.input_size = math.prod(config.input_shape)
        down = [self.input_size, *config.hidden_sizes, config.coding_size]
        self.encoder = dense_stack(down, config.activation, last_activation=True)
        self.decoder = dense_stack(down[::-1], config.activation, last_activation=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decode_logits(z)
        if self.config.reconstruction_loss == "binary_crossentropy":
            out = torch.sigmoid(out)
        return out.view(-1, *self.config.input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        target = x.flatten(1)
        logits = self.decode_logits(self.encode(target))
        if self.config.reconstruction_loss == "binary_crossentropy":
            reconstruction = F.binary_cross_entropy_with_logits(logits, target)
        else:
            reconstruction = F.mse_loss(logits, target)
        return {"loss": reconstruction, "reconstruction": reconstruction}
