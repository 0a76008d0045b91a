"""GANs: the seed's dense GAN (optionally class-conditional) and the DCGAN.

A GAN holds a `generator` (codings -> images) and a `discriminator` (images -> one logit).
`sample(n, generator, labels)` needs only the weights. Dense GANs make images in [0, 1]
(sigmoid); the DCGAN makes them in [-1, 1] (tanh) and trains on data rescaled to [-1, 1];
`sample` always returns [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aegan.errors import AeganError
from aegan.layers import MinibatchDiscrimination
from aegan.models.autoencoders import glorot_uniform_


@dataclass(frozen=True)
class GANConfig:
    kind: str = "gan"
    input_shape: tuple[int, ...] = (28, 28)
    coding_size: int = 30
    generator_sizes: tuple[int, ...] = (100, 150)
    discriminator_sizes: tuple[int, ...] = (150, 100)
    num_classes: int = 0  # > 0: a conditional GAN; both networks also receive the one-hot label
    minibatch_kernels: int = 0  # > 0: minibatch discrimination before the discriminator's last layer
    minibatch_kernel_dims: int = 5

    def __post_init__(self):
        _check_gan_config(self)
        if min(self.generator_sizes + self.discriminator_sizes, default=1) <= 0:
            raise AeganError("model.generator_sizes and model.discriminator_sizes: expected positive sizes")


@dataclass(frozen=True)
class DCGANConfig:
    kind: str = "dcgan"
    input_shape: tuple[int, ...] = (28, 28)
    coding_size: int = 100
    generator_channels: tuple[int, ...] = (128, 64)
    discriminator_channels: tuple[int, ...] = (64, 128)
    dropout: float = 0.4
    num_classes: int = 0
    minibatch_kernels: int = 0
    minibatch_kernel_dims: int = 5

    def __post_init__(self):
        _check_gan_config(self)
        if tuple(self.input_shape) != (28, 28):
            raise AeganError(f"model.input_shape={list(self.input_shape)}: dcgan expects [28, 28] images")
        if len(self.generator_channels) != 2 or len(self.discriminator_channels) != 2:
            raise AeganError("model.generator_channels and model.discriminator_channels: expected two counts each")
        if not 0 <= self.dropout < 1:
            raise AeganError(f"model.dropout={self.dropout}: expected 0 <= dropout < 1")


def _check_gan_config(config) -> None:
    if config.coding_size <= 0:
        raise AeganError(f"model.coding_size={config.coding_size}: expected a positive whole number")
    if config.num_classes < 0 or config.minibatch_kernels < 0 or config.minibatch_kernel_dims <= 0:
        raise AeganError("model.num_classes and model.minibatch_kernels: expected 0 (off) or more")


class _Discriminator(nn.Module):
    """features (a network) -> [minibatch discrimination] -> Dense 1 (a logit)."""

    def __init__(self, features: nn.Module, num_features: int, config):
        super().__init__()
        self.features = features
        self.minibatch = (MinibatchDiscrimination(num_features, config.minibatch_kernels, config.minibatch_kernel_dims)
                          if config.minibatch_kernels else None)
        self.output = glorot_uniform_(nn.Linear(num_features + config.minibatch_kernels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        if self.minibatch is not None:
            h = self.minibatch(h)
        return self.output(h).squeeze(1)


class GAN(nn.Module):
    """Generator and discriminator; conditional when config.num_classes > 0."""

    def __init__(self, config: GANConfig | DCGANConfig):
        super().__init__()
        self.config = config
        classes = config.num_classes
        pixels = math.prod(config.input_shape)
        if config.kind == "gan":
            g_sizes = [config.coding_size + classes, *config.generator_sizes]
            layers = []
            for size_in, size_out in zip(g_sizes[:-1], g_sizes[1:]):
                layers += [glorot_uniform_(nn.Linear(size_in, size_out)), nn.SELU()]
            layers.append(glorot_uniform_(nn.Linear(g_sizes[-1], pixels)))
            self.generator = nn.Sequential(*layers)  # logits; sigmoid in generate()
            d_sizes = [pixels + classes, *config.discriminator_sizes]
            features = []
            for size_in, size_out in zip(d_sizes[:-1], d_sizes[1:]):
                features += [glorot_uniform_(nn.Linear(size_in, size_out)), nn.SELU()]
            self.discriminator = _Discriminator(nn.Sequential(nn.Flatten(), *features), d_sizes[-1], config)
        else:
            c1, c2 = config.generator_channels
            self.generator = nn.Sequential(  # guidelines: no BN on the output, ReLU-family inside, tanh out
                nn.Linear(config.coding_size + classes, 7 * 7 * c1), nn.Unflatten(1, (c1, 7, 7)), nn.BatchNorm2d(c1),
                nn.ConvTranspose2d(c1, c2, 5, stride=2, padding=2, output_padding=1), nn.SELU(), nn.BatchNorm2d(c2),
                nn.ConvTranspose2d(c2, 1, 5, stride=2, padding=2, output_padding=1),
            )
            d1, d2 = config.discriminator_channels
            features = nn.Sequential(  # strided convolutions, leaky ReLU, no BN on the input layer
                nn.Conv2d(1 + classes, d1, 5, stride=2, padding=2), nn.LeakyReLU(0.2), nn.Dropout(config.dropout),
                nn.Conv2d(d1, d2, 5, stride=2, padding=2), nn.BatchNorm2d(d2), nn.LeakyReLU(0.2),
                nn.Dropout(config.dropout), nn.Flatten(),
            )
            self.discriminator = _Discriminator(features, d2 * 7 * 7, config)

    @property
    def tanh_output(self) -> bool:
        return self.config.kind == "dcgan"

    def _one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        return F.one_hot(labels, self.config.num_classes).to(torch.float32)

    def generate(self, codings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in the training range ([0, 1] for dense GANs, [-1, 1] for the DCGAN)."""
        if self.config.num_classes:
            codings = torch.cat([codings, self._one_hot(labels)], dim=1)
        out = self.generator(codings)
        out = torch.tanh(out) if self.tanh_output else torch.sigmoid(out)
        return out.reshape(len(codings), *self.config.input_shape)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """One logit per image (images in the training range)."""
        if self.config.kind == "gan":
            x = images.reshape(len(images), -1)
            if self.config.num_classes:
                x = torch.cat([x, self._one_hot(labels)], dim=1)
        else:
            x = images.reshape(len(images), 1, 28, 28)
            if self.config.num_classes:
                planes = self._one_hot(labels)[:, :, None, None].expand(-1, -1, 28, 28)
                x = torch.cat([x, planes], dim=1)
        return self.discriminator(x)

    def to_training_range(self, images: torch.Tensor) -> torch.Tensor:
        return images * 2 - 1 if self.tanh_output else images

    def decode(self, codings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1] from codings (and labels for a conditional GAN)."""
        out = self.generate(codings, labels)
        return (out + 1) / 2 if self.tanh_output else out

    def random_labels(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor | None:
        if not self.config.num_classes:
            return None
        return torch.randint(0, self.config.num_classes, (n,), generator=generator)

    def sample(self, n: int, generator: torch.Generator | None = None, labels=None) -> torch.Tensor:
        """`n` new images in [0, 1]; `labels` (an int or n ints) for a conditional GAN."""
        device = next(self.parameters()).device
        codings = torch.randn(n, self.config.coding_size, generator=generator).to(device)
        if self.config.num_classes:
            if labels is None:
                labels = self.random_labels(n, generator)
            labels = torch.as_tensor(labels).expand(n) if torch.as_tensor(labels).dim() == 0 else torch.as_tensor(labels)
            labels = labels.to(device)
        elif labels is not None:
            raise AeganError("this GAN is not conditional: drop --label, or train the cgan preset")
        was_training = self.training
        self.eval()
        with torch.no_grad():
            images = self.decode(codings, labels)
        self.train(was_training)
        return images
