"""GANs: the seed's dense GAN (optionally class-conditional) and the DCGAN.

A GAN holds a `generator` (codings -> samples) and a `discriminator` (samples -> one logit),
both built for the data's shape (a DataSpec, through `config.for_data(spec)`).
`sample(n, generator, labels)` needs only the weights. On data in [0, 1] (images divided by
255), dense GANs make samples in [0, 1] (sigmoid) and the DCGAN makes them in [-1, 1] (tanh)
and trains on data rescaled to [-1, 1]; `sample` always returns [0, 1]. On standardised data
both generate linear outputs, in the data's standardised units, and nothing is rescaled.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from aegan.errors import AeganError
from aegan.layers import MinibatchDiscrimination, MinibatchStdDev, doubling_output_padding, halved
from aegan.models.autoencoders import (
    check_input_shape,
    data_input_shape,
    data_values,
    glorot_uniform_,
    require_image_layout,
    require_resolved,
)

OUTPUT_ACTIVATIONS = ("auto", "sigmoid", "tanh", "linear")


@dataclass(frozen=True)
class GANConfig:
    kind: str = "gan"
    input_shape: tuple[int, ...] = ()  # () = the data's sample shape (for_data); any shape, flattened
    coding_size: int = 30
    generator_sizes: tuple[int, ...] = (100, 150)
    discriminator_sizes: tuple[int, ...] = (150, 100)
    conditional: bool = False  # both networks also receive the one-hot class label (the data's classes)
    num_classes: int = 0  # resolved from the data when conditional (> 0: a conditional GAN)
    minibatch_kernels: int = 0  # > 0: minibatch discrimination before the discriminator's last layer
    minibatch_kernel_dims: int = 5
    minibatch_std: bool = False  # the batch's feature standard deviation as one more feature (ProGAN)
    spectral_norm: bool = False  # every discriminator layer's largest singular value held at 1 (SNGAN)
    pack: int = 1  # PacGAN: the discriminator judges this many samples at once, concatenated
    # auto: sigmoid on data in [0, 1], linear otherwise; or sigmoid, tanh (data mapped to [-1, 1]), linear
    output_activation: str = "auto"

    def __post_init__(self):
        check_input_shape(self)
        _check_gan_config(self)
        if min(self.generator_sizes + self.discriminator_sizes, default=1) <= 0:
            raise AeganError("model.generator_sizes and model.discriminator_sizes: expected positive sizes")

    @property
    def resolved(self) -> bool:
        return _gan_resolved(self)

    def for_data(self, spec) -> "GANConfig":
        """This config with the data's sample shape, output activation and (conditional) classes."""
        return _gan_for_data(self, spec, "sigmoid")


@dataclass(frozen=True)
class DCGANConfig:
    kind: str = "dcgan"
    input_shape: tuple[int, ...] = ()  # () = the data's (channels, height, width) (for_data)
    coding_size: int = 100
    generator_channels: tuple[int, ...] = (128, 64)
    discriminator_channels: tuple[int, ...] = (64, 128)
    dropout: float = 0.4
    # batch norm in the discriminator's second layer; off for WGAN-GP, whose penalty is per sample
    discriminator_batch_norm: bool = True
    conditional: bool = False
    num_classes: int = 0
    minibatch_kernels: int = 0
    minibatch_kernel_dims: int = 5
    minibatch_std: bool = False  # the batch's feature standard deviation as one more feature (ProGAN)
    spectral_norm: bool = False  # every discriminator layer's largest singular value held at 1 (SNGAN)
    pack: int = 1  # PacGAN: the discriminator judges this many samples at once, concatenated
    # auto: tanh on data in [0, 1] (trained on the data mapped to [-1, 1]), linear otherwise
    output_activation: str = "auto"

    def __post_init__(self):
        check_input_shape(self, dims=(2, 3))  # 2: an older run's [28, 28], one channel
        _check_gan_config(self)
        if len(self.generator_channels) != 2 or len(self.discriminator_channels) != 2:
            raise AeganError("model.generator_channels and model.discriminator_channels: expected two counts each")
        if min(self.generator_channels + self.discriminator_channels) <= 0:
            raise AeganError("model.generator_channels and model.discriminator_channels: expected positive counts")
        if not 0 <= self.dropout < 1:
            raise AeganError(f"model.dropout={self.dropout}: expected 0 <= dropout < 1")

    @property
    def resolved(self) -> bool:
        return len(self.input_shape) == 3 and _gan_resolved(self)

    def for_data(self, spec) -> "DCGANConfig":
        """This config with the data's image shape, output activation and (conditional) classes."""
        require_image_layout("dcgan", spec, "gan")
        return _gan_for_data(self, spec, "tanh")


def _check_gan_config(config) -> None:
    if config.coding_size <= 0:
        raise AeganError(f"model.coding_size={config.coding_size}: expected a positive whole number")
    if config.num_classes < 0 or config.minibatch_kernels < 0 or config.minibatch_kernel_dims <= 0:
        raise AeganError("model.num_classes and model.minibatch_kernels: expected 0 (off) or more")
    if isinstance(config.pack, bool) or not isinstance(config.pack, int) or config.pack < 1:
        raise AeganError(f"model.pack={config.pack!r}: expected a whole number >= 1 (1: no packing, 2: PacGAN2)")
    if config.output_activation not in OUTPUT_ACTIVATIONS:
        raise AeganError(f"model.output_activation={config.output_activation!r}: expected one of "
                         f"{', '.join(repr(c) for c in OUTPUT_ACTIVATIONS)}")


def _gan_resolved(config) -> bool:
    return (bool(config.input_shape) and config.output_activation != "auto"
            and (config.num_classes > 0 or not config.conditional))


def _gan_for_data(config, spec, unit_activation: str):
    activation = config.output_activation
    if activation == "auto":
        activation = unit_activation if spec.unit_range else "linear"
    elif activation in ("sigmoid", "tanh") and not spec.unit_range:
        made = "[0, 1]" if activation == "sigmoid" else "[-1, 1] (from data in [0, 1])"
        raise AeganError(f"model.output_activation={activation!r} makes samples in {made}, but the data is "
                         f"{data_values(spec)}: set model.output_activation='linear' (or 'auto'), or a "
                         "data.scaling that maps it to [0, 1] (divide_255 for 0-255 values)")
    conditional = config.conditional or config.num_classes > 0  # older configs set num_classes alone
    num_classes = 0
    if conditional:
        if not spec.has_labels:
            raise AeganError("cgan needs class labels: give a folder with one subfolder per class, "
                             "data.label_column, or labels in the npz")
        if config.num_classes and config.num_classes != spec.num_classes:
            raise AeganError(f"model.num_classes={config.num_classes}, but the data has {spec.num_classes} classes: "
                             "remove model.num_classes (it is read from the data)")
        num_classes = spec.num_classes
    return dataclasses.replace(config, input_shape=data_input_shape(config, spec), output_activation=activation,
                               conditional=conditional, num_classes=num_classes)


class _Discriminator(nn.Module):
    """features (a network) -> [minibatch discrimination] -> [minibatch std] -> Dense 1 (a logit);
    with `spectral_norm`, every layer with weights is spectrally normalised."""

    def __init__(self, features: nn.Module, num_features: int, config):
        super().__init__()
        self.features = features
        self.minibatch = (MinibatchDiscrimination(num_features, config.minibatch_kernels, config.minibatch_kernel_dims)
                          if config.minibatch_kernels else None)
        self.minibatch_std = MinibatchStdDev() if config.minibatch_std else None
        self.output = glorot_uniform_(nn.Linear(num_features + config.minibatch_kernels + config.minibatch_std, 1))
        if config.spectral_norm:
            for module in list(self.modules()):
                if isinstance(module, (nn.Linear, nn.Conv2d)):
                    spectral_norm(module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        if self.minibatch is not None:
            h = self.minibatch(h)
        if self.minibatch_std is not None:
            h = self.minibatch_std(h)
        return self.output(h).squeeze(1)


class GAN(nn.Module):
    """Generator and discriminator; conditional when config.num_classes > 0."""

    capabilities = frozenset({"sample", "interpolate"})
    training_loop = "gan"
    evaluations = ("generative",)

    def __init__(self, config: GANConfig | DCGANConfig):
        super().__init__()
        require_resolved(config)
        self.config = config
        classes = config.num_classes
        pixels = math.prod(config.input_shape)
        if config.kind == "gan":
            g_sizes = [config.coding_size + classes, *config.generator_sizes]
            layers = []
            for size_in, size_out in zip(g_sizes[:-1], g_sizes[1:]):
                layers += [glorot_uniform_(nn.Linear(size_in, size_out)), nn.SELU()]
            layers.append(glorot_uniform_(nn.Linear(g_sizes[-1], pixels)))
            self.generator = nn.Sequential(*layers)  # logits; the output activation in generate()
            d_sizes = [(pixels + classes) * config.pack, *config.discriminator_sizes]
            features = []
            for size_in, size_out in zip(d_sizes[:-1], d_sizes[1:]):
                features += [glorot_uniform_(nn.Linear(size_in, size_out)), nn.SELU()]
            self.discriminator = _Discriminator(nn.Sequential(nn.Flatten(), *features), d_sizes[-1], config)
        else:
            # Stride-2 5x5 convolutions with padding 2 halve each side, rounding up (28 -> 14 -> 7); the
            # generator goes back up from the smallest size with the output padding that lands on each.
            channels, height, width = config.input_shape
            h1, w1 = halved(height), halved(width)
            h2, w2 = halved(h1), halved(w1)
            c1, c2 = config.generator_channels
            self.generator = nn.Sequential(  # guidelines: no BN on the output, ReLU-family inside, tanh out
                nn.Linear(config.coding_size + classes, h2 * w2 * c1), nn.Unflatten(1, (c1, h2, w2)),
                nn.BatchNorm2d(c1),
                nn.ConvTranspose2d(c1, c2, 5, stride=2, padding=2, output_padding=(
                    doubling_output_padding(h2, h1), doubling_output_padding(w2, w1))), nn.SELU(), nn.BatchNorm2d(c2),
                nn.ConvTranspose2d(c2, channels, 5, stride=2, padding=2, output_padding=(
                    doubling_output_padding(h1, height), doubling_output_padding(w1, width))),
            )
            d1, d2 = config.discriminator_channels
            features = nn.Sequential(  # strided convolutions, leaky ReLU, no BN on the input layer
                nn.Conv2d((channels + classes) * config.pack, d1, 5, stride=2, padding=2), nn.LeakyReLU(0.2),
                nn.Dropout(config.dropout),
                nn.Conv2d(d1, d2, 5, stride=2, padding=2),
                nn.BatchNorm2d(d2) if config.discriminator_batch_norm else nn.Identity(), nn.LeakyReLU(0.2),
                nn.Dropout(config.dropout), nn.Flatten(),
            )
            self.discriminator = _Discriminator(features, d2 * h2 * w2, config)

    @property
    def output_activation(self) -> str:
        return self.config.output_activation

    @property
    def tanh_output(self) -> bool:
        """Whether the generator makes [-1, 1] samples and trains on data mapped there from [0, 1]."""
        return self.config.output_activation == "tanh"

    def activate(self, out: torch.Tensor) -> torch.Tensor:
        """The generator's output activation applied to its last layer's output."""
        if self.config.output_activation == "tanh":
            return torch.tanh(out)
        if self.config.output_activation == "sigmoid":
            return torch.sigmoid(out)
        return out

    def _one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        return F.one_hot(labels, self.config.num_classes).to(torch.float32)

    def generate(self, codings: torch.Tensor, labels: torch.Tensor | None = None,
                 generator: nn.Module | None = None) -> torch.Tensor:
        """Samples (N, *input_shape) in the training range ([0, 1] for sigmoid, [-1, 1] for tanh outputs);
        `generator` replaces self.generator (the training loop's moving average of it)."""
        if self.config.num_classes:
            codings = torch.cat([codings, self._one_hot(labels)], dim=1)
        out = self.activate((self.generator if generator is None else generator)(codings))
        return out.reshape(len(codings), *self.config.input_shape)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None = None,
                     discriminator: nn.Module | None = None) -> torch.Tensor:
        """One logit per sample (samples in the training range); with model.pack = k, one logit per
        k consecutive samples, judged together (a remainder of fewer than k is left out).
        `discriminator` replaces self.discriminator (data-parallel training's wrapped one)."""
        if self.config.kind == "gan":
            x = images.reshape(len(images), -1)
            if self.config.num_classes:
                x = torch.cat([x, self._one_hot(labels)], dim=1)
        else:
            x = images.reshape(len(images), *self.config.input_shape)
            if self.config.num_classes:
                planes = self._one_hot(labels)[:, :, None, None].expand(-1, -1, *x.shape[2:])
                x = torch.cat([x, planes], dim=1)
        pack = self.config.pack
        if pack > 1:  # k samples side by side along the features (dense) or the channels (DCGAN)
            groups = len(x) // pack
            x = x[:groups * pack].reshape(groups, pack * x.shape[1], *x.shape[2:])
        return (self.discriminator if discriminator is None else discriminator)(x)

    def to_training_range(self, images: torch.Tensor) -> torch.Tensor:
        return images * 2 - 1 if self.tanh_output else images

    def decode(self, codings: torch.Tensor, labels: torch.Tensor | None = None,
               generator: nn.Module | None = None) -> torch.Tensor:
        """Samples (N, *input_shape) from codings (and labels for a conditional GAN): in [0, 1] for data in
        [0, 1], in the data's standardised units for linear outputs."""
        out = self.generate(codings, labels, generator)
        return (out + 1) / 2 if self.tanh_output else out

    def random_labels(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor | None:
        if not self.config.num_classes:
            return None
        return torch.randint(0, self.config.num_classes, (n,), generator=generator)

    def sample(self, n: int, generator: torch.Generator | None = None, labels=None) -> torch.Tensor:
        """`n` new samples, as `decode` makes them; `labels` (an int or n ints) for a conditional GAN."""
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
