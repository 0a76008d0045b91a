"""Progressive growing of GANs (Karras et al. 2018): both networks start at 4x4 and grow a block
at a time up to the data's size, each new block faded in.

The schedule counts training images (`images_seen`, a buffer saved with the weights, so a run
resumed in the middle of a phase goes on where it was): `images_per_phase` at 4x4, then for each
larger size `images_per_phase` fading the new block in (its weight alpha rising from 0 to 1
beside the upsampled output of the size before) and `images_per_phase` with it alone.
Equalised learning rate (weights drawn from N(0, 1) and scaled by He's constant at run time),
pixelwise feature normalisation in the generator and minibatch standard deviation in the
discriminator are the paper's. Images of other sizes are made at the next power of two and
cropped (Fashion-MNIST's 28x28 from 32x32); the discriminator pads real images the same way.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aegan.errors import AeganError
from aegan.models.autoencoders import check_input_shape, data_input_shape, data_values, require_image_layout
from aegan.models.autoencoders import require_resolved
from aegan.layers import EqualizedConv2d, EqualizedLinear, pixel_norm


@dataclass(frozen=True)
class ProGANConfig:
    kind: str = "progan"
    input_shape: tuple[int, ...] = ()  # () = the data's (channels, height, width) (for_data)
    coding_size: int = 128
    # channels at 4x4, 8x8, 16x16, ... (as many as the data's size needs; the first ones are used)
    channels: tuple[int, ...] = (128, 128, 64, 32, 16, 16)
    images_per_phase: int = 20_000  # per phase: 4x4; then per size a fade-in and a stable phase
    minibatch_std: bool = True
    output_activation: str = "auto"  # auto: tanh on data in [0, 1] (trained in [-1, 1]), linear otherwise
    conditional: bool = False  # not supported: cgan or cddpm are the conditional families
    num_classes: int = 0

    def __post_init__(self):
        check_input_shape(self, dims=(3,))
        if self.coding_size <= 0 or not self.channels or min(self.channels) <= 0:
            raise AeganError("model.coding_size and model.channels: expected positive sizes")
        if self.images_per_phase < 1:
            raise AeganError(f"model.images_per_phase={self.images_per_phase}: expected 1 or more images")
        check_sized_gan(self)

    @property
    def resolved(self) -> bool:
        return len(self.input_shape) == 3 and self.output_activation != "auto"

    def for_data(self, spec) -> "ProGANConfig":
        return sized_gan_for_data(self, spec)


def check_sized_gan(config) -> None:
    """What progan and stylegan configs share: the output activation, no classes, a channel count per size."""
    if config.output_activation not in ("auto", "tanh", "linear"):
        raise AeganError(f"model.output_activation={config.output_activation!r}: expected 'auto', 'tanh' or 'linear'")
    if config.conditional or config.num_classes:
        raise AeganError(f"model.conditional: {config.kind} is unconditional; train cgan or cddpm for classes")
    if config.input_shape and len(config.channels) < levels_for(config.input_shape):
        raise AeganError(f"model.channels={list(config.channels)}: {config.input_shape[1]}x{config.input_shape[2]} "
                         f"images need {levels_for(config.input_shape)} sizes from 4x4; give one count per size")


def sized_gan_for_data(config, spec):
    """A progan or stylegan config with the data's image shape and output activation (tanh on data in [0, 1])."""
    require_image_layout(config.kind, spec, "gan")
    activation = config.output_activation
    if activation == "auto":
        activation = "tanh" if spec.unit_range else "linear"
    elif activation == "tanh" and not spec.unit_range:
        raise AeganError(f"model.output_activation='tanh' needs data in [0, 1], but the data is "
                         f"{data_values(spec)}: set it to 'auto'")
    return dataclasses.replace(config, input_shape=data_input_shape(config, spec), output_activation=activation)


def crop(images: torch.Tensor, input_shape, side: int) -> torch.Tensor:
    """The data's height and width from the middle of side x side images."""
    _, height, width = input_shape
    top, left = (side - height) // 2, (side - width) // 2
    return images[..., top:top + height, left:left + width]


def pad(images: torch.Tensor, input_shape, side: int, value: float) -> torch.Tensor:
    """Images of the data's shape in the middle of side x side ones, the rest filled with `value`."""
    x = images.reshape(len(images), *input_shape)
    _, height, width = input_shape
    top, left = (side - height) // 2, (side - width) // 2
    if (height, width) == (side, side):
        return x
    return F.pad(x, (left, side - width - left, top, side - height - top), value=value)


def levels_for(input_shape) -> int:
    """Sizes 4, 8, ... up to the power of two that holds the image's larger side."""
    side = max(input_shape[1:])
    if side < 4:
        raise AeganError(f"progan needs images of 4x4 or more, not {input_shape[1]}x{input_shape[2]}")
    return math.ceil(math.log2(side)) - 1


class Generator(nn.Module):
    """codings -> 4x4 -> ... -> the size of `level`, blended with the size before by `alpha`."""

    def __init__(self, coding_size: int, channels: tuple[int, ...], image_channels: int):
        super().__init__()
        self.first = EqualizedLinear(coding_size, channels[0] * 16, gain=math.sqrt(2.0) / 4)
        self.first_conv = EqualizedConv2d(channels[0], channels[0], 3)
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualizedConv2d(channels[i - 1], channels[i], 3), EqualizedConv2d(channels[i], channels[i], 3)])
            for i in range(1, len(channels)))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(width, image_channels, 1) for width in channels)
        self.channels = channels

    def forward(self, codings: torch.Tensor, level: int, alpha: float) -> torch.Tensor:
        act = lambda h: pixel_norm(F.leaky_relu(h, 0.2))  # noqa: E731
        h = act(self.first(pixel_norm(codings)).view(len(codings), self.channels[0], 4, 4))
        h = act(self.first_conv(h))
        previous = h
        for conv1, conv2 in self.blocks[:level]:
            previous = h
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = act(conv2(act(conv1(h))))
        out = self.to_rgb[level](h)
        if level > 0 and alpha < 1:
            out = alpha * out + (1 - alpha) * F.interpolate(self.to_rgb[level - 1](previous), scale_factor=2.0,
                                                            mode="nearest")
        return out


class Discriminator(nn.Module):
    """An image of the size of `level` -> ... -> 4x4 -> one logit; the new block's input blended with
    the downsampled image's path by `alpha`."""

    def __init__(self, channels: tuple[int, ...], image_channels: int, minibatch_std: bool):
        super().__init__()
        self.from_rgb = nn.ModuleList(EqualizedConv2d(image_channels, width, 1) for width in channels)
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualizedConv2d(channels[i], channels[i], 3), EqualizedConv2d(channels[i], channels[i - 1], 3)])
            for i in range(1, len(channels)))
        self.minibatch_std = minibatch_std
        self.last_conv = EqualizedConv2d(channels[0] + int(minibatch_std), channels[0], 3)
        self.dense = EqualizedLinear(channels[0] * 16, channels[0])
        self.output = EqualizedLinear(channels[0], 1, gain=1.0)

    def forward(self, x: torch.Tensor, level: int, alpha: float) -> torch.Tensor:
        h = F.leaky_relu(self.from_rgb[level](x), 0.2)
        for index in range(level, 0, -1):
            conv1, conv2 = self.blocks[index - 1]
            h = F.avg_pool2d(F.leaky_relu(conv2(F.leaky_relu(conv1(h), 0.2)), 0.2), 2)
            if index == level and alpha < 1:
                skipped = F.leaky_relu(self.from_rgb[level - 1](F.avg_pool2d(x, 2)), 0.2)
                h = alpha * h + (1 - alpha) * skipped
        if self.minibatch_std:  # the batch's standard deviation, averaged, as one more feature map
            spread = h.std(dim=0, unbiased=False).mean() if len(h) > 1 else h.new_zeros(())
            h = torch.cat([h, spread.expand(len(h), 1, *h.shape[2:])], dim=1)
        h = F.leaky_relu(self.last_conv(h), 0.2)
        return self.output(F.leaky_relu(self.dense(h.flatten(1)), 0.2)).squeeze(1)


class ProGAN(nn.Module):
    """A generator and a discriminator that grow with `images_seen`; the GAN loop's interface
    (generate, discriminate, decode, sample) at the current size and fade-in weight."""

    capabilities = frozenset({"sample", "interpolate"})
    training_loop = "gan"
    evaluations = ("generative",)

    def __init__(self, config: ProGANConfig):
        super().__init__()
        require_resolved(config)
        self.config = config
        channels, height, width = config.input_shape
        self.levels = levels_for(config.input_shape)
        self.side = 4 * 2 ** (self.levels - 1)
        widths = tuple(config.channels[:self.levels])
        self.generator = Generator(config.coding_size, widths, channels)
        self.discriminator = Discriminator(widths, channels, config.minibatch_std)
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.int64))

    # the schedule

    def phase(self, images_seen: int | None = None) -> tuple[int, float]:
        """(level, alpha) after `images_seen` training images (default: the model's count): level 0
        is 4x4; alpha is the new block's weight, rising from 0 to 1 over its fade-in phase."""
        seen = int(self.images_seen) if images_seen is None else images_seen
        per = self.config.images_per_phase
        if seen < per or self.levels == 1:
            return 0, 1.0
        grown, into = divmod(seen - per, 2 * per)
        level = 1 + grown
        if level >= self.levels:
            return self.levels - 1, 1.0
        return level, min(into / per, 1.0)

    def after_training_step(self, images: int) -> None:
        """The GAN loop's call after each step on `images` real images: the schedule moves on."""
        self.images_seen += images

    @property
    def tanh_output(self) -> bool:
        return self.config.output_activation == "tanh"

    def to_training_range(self, images: torch.Tensor) -> torch.Tensor:
        return images * 2 - 1 if self.tanh_output else images

    def _background(self) -> float:
        return -1.0 if self.tanh_output else 0.0

    def generate(self, codings: torch.Tensor, labels=None, generator: nn.Module | None = None) -> torch.Tensor:
        """Samples (N, *input_shape) in the training range: made at the current size, upsampled to
        the full power-of-two side and cropped to the data's size."""
        level, alpha = self.phase()
        out = (self.generator if generator is None else generator)(codings, level, alpha)
        out = F.interpolate(out, size=(self.side, self.side), mode="nearest") if out.shape[-1] != self.side else out
        out = crop(out, self.config.input_shape, self.side)
        return torch.tanh(out) if self.tanh_output else out

    def discriminate(self, images: torch.Tensor, labels=None, discriminator: nn.Module | None = None) -> torch.Tensor:
        """One logit per image (in the training range): padded to the full side, then averaged down
        to the current size."""
        level, alpha = self.phase()
        x = pad(images, self.config.input_shape, self.side, self._background())
        factor = 2 ** (self.levels - 1 - level)
        if factor > 1:
            x = F.avg_pool2d(x, factor)
        return (self.discriminator if discriminator is None else discriminator)(x, level, alpha)

    def decode(self, codings: torch.Tensor, labels=None, generator: nn.Module | None = None) -> torch.Tensor:
        out = self.generate(codings, labels, generator)
        return (out + 1) / 2 if self.tanh_output else out

    def random_labels(self, n: int, generator=None):
        return None

    def sample(self, n: int, generator: torch.Generator | None = None, labels=None) -> torch.Tensor:
        if labels is not None:
            raise AeganError("progan is not conditional: drop --label")
        device = next(self.parameters()).device
        codings = torch.randn(n, self.config.coding_size, generator=generator).to(device)
        was_training = self.training
        self.eval()
        with torch.no_grad():
            images = self.decode(codings)
        self.train(was_training)
        return images
