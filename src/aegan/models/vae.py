"""Variational autoencoders: the seed's dense VAE and a convolutional one.

`encode` gives the mean and log-variance of the codings' Gaussian posterior; the
reparameterisation trick samples codings from them while training; `sample` decodes codings
drawn from the N(0, I) prior. The latent loss is the book's: the KL divergence to the prior,
summed over codings, averaged over the batch and divided by the number of pixels, weighted
by `beta`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aegan import shards

from aegan.errors import AeganError
from aegan.layers import doubling_output_padding, halved
from aegan.models.autoencoders import (
    ACTIVATIONS,
    check_input_shape,
    check_reconstruction_loss,
    dense_stack,
    glorot_uniform_,
    require_image_layout,
    require_resolved,
    with_data_shape_and_loss,
)


@dataclass(frozen=True)
class VAEConfig:
    kind: str = "vae"
    input_shape: tuple[int, ...] = ()  # () = the data's sample shape (for_data); any shape, flattened
    hidden_sizes: tuple[int, ...] = (150, 100)
    coding_size: int = 10
    activation: str = "selu"
    beta: float = 1.0
    # binary_crossentropy: sigmoid outputs; mse: linear outputs; auto: from the data's range
    reconstruction_loss: str = "auto"

    def __post_init__(self):
        check_input_shape(self)
        if self.coding_size <= 0 or any(size <= 0 for size in self.hidden_sizes):
            raise AeganError("model.coding_size and model.hidden_sizes: expected positive sizes")
        if self.beta < 0:
            raise AeganError(f"model.beta={self.beta}: expected a weight >= 0")
        if self.activation not in ACTIVATIONS:
            raise AeganError(f"model.activation={self.activation!r}: expected one of {', '.join(ACTIVATIONS)}")
        check_reconstruction_loss(self.reconstruction_loss)

    @property
    def resolved(self) -> bool:
        return bool(self.input_shape) and self.reconstruction_loss != "auto"

    def for_data(self, spec) -> "VAEConfig":
        """This config with the data's sample shape and, unless set, its reconstruction loss."""
        return with_data_shape_and_loss(self, spec)


@dataclass(frozen=True)
class ConvVAEConfig:
    kind: str = "conv_vae"
    input_shape: tuple[int, ...] = ()  # () = the data's (channels, height, width) (for_data)
    channels: tuple[int, ...] = (32, 64)
    coding_size: int = 10
    beta: float = 1.0
    reconstruction_loss: str = "auto"  # as VAEConfig's

    def __post_init__(self):
        check_input_shape(self, dims=(2, 3))  # 2: an older run's [28, 28], one channel
        if len(self.channels) != 2 or min(self.channels) <= 0:
            raise AeganError(f"model.channels={list(self.channels)}: expected two positive channel counts")
        if self.coding_size <= 0 or self.beta < 0:
            raise AeganError("model.coding_size must be positive and model.beta >= 0")
        check_reconstruction_loss(self.reconstruction_loss)

    @property
    def resolved(self) -> bool:
        return len(self.input_shape) == 3 and self.reconstruction_loss != "auto"

    def for_data(self, spec) -> "ConvVAEConfig":
        """This config with the data's image shape and, unless set, its reconstruction loss."""
        require_image_layout("conv_vae", spec, "vae")
        return with_data_shape_and_loss(self, spec)


class _VAEBase(nn.Module):
    """What both VAEs share: sampling, the loss, the prior. Subclasses define the networks."""

    config: VAEConfig | ConvVAEConfig
    capabilities = frozenset({"encode", "reconstruct", "sample", "interpolate", "score"})
    training_loop = "autoencoder"
    evaluations = ("reconstruction", "representation", "vae", "generative")

    @property
    def sigmoid_output(self) -> bool:
        return self.config.reconstruction_loss == "binary_crossentropy"

    @property
    def output_activation(self) -> str:
        return "sigmoid" if self.sigmoid_output else "linear"

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(x)
        return self.mean_head(hidden), self.log_var_head(hidden)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).reshape(len(z), -1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Samples of the data's shape (N, *input_shape): in [0, 1] (sigmoid) for a BCE model."""
        out = self.decode_logits(z)
        if self.sigmoid_output:
            out = torch.sigmoid(out)
        return out.view(-1, *self.config.input_shape)

    @staticmethod
    def reparameterize(mean, log_var, generator=None):
        noise = shards.rows(lambda n: torch.randn((n, *mean.shape[1:]), generator=generator, device=mean.device,
                                                  dtype=mean.dtype), len(mean))
        return mean + torch.exp(0.5 * log_var) * noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructions: from sampled codings while training, from the posterior mean in eval."""
        mean, log_var = self.encode(x)
        return self.decode(self.reparameterize(mean, log_var) if self.training else mean)

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mean, log_var = self.encode(x)
        logits = self.decode_logits(self.reparameterize(mean, log_var))
        target = x.reshape(len(x), -1)
        if self.sigmoid_output:
            reconstruction = F.binary_cross_entropy_with_logits(logits, target)
        else:
            reconstruction = F.mse_loss(logits, target)
        kl = -0.5 * torch.sum(1 + log_var - log_var.exp() - mean.square(), dim=1)
        latent = kl.mean() / target.shape[1]
        return {"loss": reconstruction + self.config.beta * latent, "reconstruction": reconstruction,
                "latent": latent}

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        z = torch.randn(n, self.config.coding_size, generator=generator).to(device)
        return self.decode(z)


class VariationalAutoencoder(_VAEBase):
    """The seed's VAE: 784-150-100 -> (mean, log_var) of 10 codings -> 100-150-784 sigmoid."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        require_resolved(config)
        self.config = config
        sizes = [math.prod(config.input_shape), *config.hidden_sizes]
        self.encoder = nn.Sequential(nn.Flatten(), *dense_stack(sizes, config.activation, last_activation=True))
        self.mean_head = glorot_uniform_(nn.Linear(sizes[-1], config.coding_size))
        self.log_var_head = glorot_uniform_(nn.Linear(sizes[-1], config.coding_size))
        self.decoder = dense_stack([config.coding_size, *sizes[::-1]], config.activation, last_activation=False)


class ConvVariationalAutoencoder(_VAEBase):
    """Strided convolutions H -> ceil(H/2) -> ceil(H/4) down (28 -> 14 -> 7), transposed convolutions back up."""

    def __init__(self, config: ConvVAEConfig):
        super().__init__()
        require_resolved(config)
        self.config = config
        channels, height, width = config.input_shape
        h1, w1 = halved(height), halved(width)
        h2, w2 = halved(h1), halved(w1)
        c1, c2 = config.channels
        self.encoder = nn.Sequential(
            _Reshape(config.input_shape),
            nn.Conv2d(channels, c1, 3, stride=2, padding=1), nn.SELU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.SELU(),
            nn.Flatten(),
        )
        features = c2 * h2 * w2  # the seed's c2 * 49
        self.mean_head = nn.Linear(features, config.coding_size)
        self.log_var_head = nn.Linear(features, config.coding_size)
        self.decoder = nn.Sequential(
            nn.Linear(config.coding_size, features), nn.SELU(), nn.Unflatten(1, (c2, h2, w2)),
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=(
                doubling_output_padding(h2, h1), doubling_output_padding(w2, w1))), nn.SELU(),
            nn.ConvTranspose2d(c1, channels, 3, stride=2, padding=1, output_padding=(
                doubling_output_padding(h1, height), doubling_output_padding(w1, width))),
        )


class _Reshape(nn.Module):
    """Flat or unbatched-channel samples as (N, C, H, W)."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"
