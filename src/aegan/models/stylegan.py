"""A style-based generator (Karras et al. 2019, with StyleGAN2's modulated convolutions, 2020).

    codings z -> mapping network (pixel norm, dense layers at a hundredth of the learning rate) -> w
    a learned 4x4 constant -> per size: [upsample] modulated 3x3 conv, noise, leaky ReLU (twice; once
    at 4x4), and a 1x1 modulated "to RGB" added to the upsampled image of the size before

Each modulated convolution takes its own copy of w (one "style" per layer): an affine map of w
scales the kernel's input channels, and the kernel is demodulated (normalised per output channel).
Per-pixel Gaussian noise enters every convolution with a learned scale per channel. Style mixing
regularisation draws a second w for a random share of the training batches and switches to it at
a random layer; the truncation trick pulls w toward the running mean of w (`--truncation 0.7`).
The discriminator is progan's at full size. Images of other sizes are made at the next power of
two and cropped, as progan does.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aegan.errors import AeganError
from aegan.layers import EqualizedLinear, pixel_norm
from aegan.models.autoencoders import check_input_shape, require_resolved
from aegan.models.progan import Discriminator, check_sized_gan, crop, levels_for, pad, sized_gan_for_data

W_AVERAGE_DECAY = 0.995  # the running mean of w that truncation pulls toward


@dataclass(frozen=True)
class StyleGANConfig:
    kind: str = "stylegan"
    input_shape: tuple[int, ...] = ()  # () = the data's (channels, height, width) (for_data)
    coding_size: int = 128  # z, and w
    mapping_layers: int = 4
    channels: tuple[int, ...] = (128, 128, 64, 32, 16, 16)  # at 4x4, 8x8, ... (the first ones the data needs)
    style_mixing: float = 0.9  # share of training batches whose styles switch to a second w at a random layer
    minibatch_std: bool = True
    output_activation: str = "auto"  # auto: tanh on data in [0, 1] (trained in [-1, 1]), linear otherwise
    conditional: bool = False  # not supported
    num_classes: int = 0

    def __post_init__(self):
        check_input_shape(self, dims=(3,))
        if self.coding_size <= 0 or self.mapping_layers < 1 or not self.channels or min(self.channels) <= 0:
            raise AeganError("model.coding_size, model.mapping_layers and model.channels: expected positive sizes")
        if not 0 <= self.style_mixing <= 1:
            raise AeganError(f"model.style_mixing={self.style_mixing}: expected a share in [0, 1]")
        check_sized_gan(self)

    @property
    def resolved(self) -> bool:
        return len(self.input_shape) == 3 and self.output_activation != "auto"

    def for_data(self, spec) -> "StyleGANConfig":
        return sized_gan_for_data(self, spec)


class ModulatedConv2d(nn.Module):
    """A convolution whose kernel is scaled per input channel by a style (an affine map of w) and,
    with `demodulate`, normalised per output channel. Computed as StyleGAN2's non-fused form: the
    inputs are scaled by the style, one shared kernel convolves the whole batch, and the outputs
    are scaled by the demodulation coefficients; the same numbers as a per-sample kernel (a grouped
    convolution), about 3x faster on a CPU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_size: int, demodulate: bool = True):
        super().__init__()
        self.affine = EqualizedLinear(w_size, in_channels, gain=1.0, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.demodulate = demodulate
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.affine(w)  # (n, in)
        weight = self.weight * self.scale
        out = F.conv2d(x * style[:, :, None, None], weight, padding=self.padding)
        if self.demodulate:  # 1 / the norm of each sample's kernel per output channel: (n, out)
            norms = style.square() @ weight.square().sum(dim=(2, 3)).t()
            out = out * torch.rsqrt(norms + 1e-8)[:, :, None, None]
        return out


class StyledLayer(nn.Module):
    """Modulated 3x3 convolution, per-pixel noise times a learned per-channel scale, bias, leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, w_size: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_size)
        self.noise_scale = nn.Parameter(torch.zeros(out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, w)
        if noise is None:
            noise = torch.randn(len(out), 1, *out.shape[2:], device=out.device, dtype=out.dtype)
        out = out + self.noise_scale[None, :, None, None] * noise
        return F.leaky_relu(out + self.bias[None, :, None, None], 0.2) * math.sqrt(2)


class StyleGenerator(nn.Module):
    """The mapping network and the synthesis network; `forward(z)` draws noise and mixes styles while
    training. `num_styles` copies of w feed the layers in order: the 4x4 layer, its to-RGB, then
    per size its two layers and its to-RGB."""

    def __init__(self, config: StyleGANConfig, levels: int):
        super().__init__()
        size, widths = config.coding_size, config.channels[:levels]
        self.mapping = nn.ModuleList(EqualizedLinear(size, size, learning_rate_multiplier=0.01)
                                     for _ in range(config.mapping_layers))
        self.constant = nn.Parameter(torch.randn(1, widths[0], 4, 4))
        self.layers = nn.ModuleList([StyledLayer(widths[0], widths[0], size)])
        self.to_rgb = nn.ModuleList([ModulatedConv2d(widths[0], config.input_shape[0], 1, size, demodulate=False)])
        for level in range(1, levels):
            self.layers.append(StyledLayer(widths[level - 1], widths[level], size))
            self.layers.append(StyledLayer(widths[level], widths[level], size))
            self.to_rgb.append(ModulatedConv2d(widths[level], config.input_shape[0], 1, size, demodulate=False))
        self.rgb_bias = nn.Parameter(torch.zeros(config.input_shape[0]))
        self.levels = levels
        self.style_mixing = config.style_mixing
        self.register_buffer("w_average", torch.zeros(size))

    @property
    def num_styles(self) -> int:
        return len(self.layers) + len(self.to_rgb)

    def map(self, z: torch.Tensor) -> torch.Tensor:
        w = pixel_norm(z[:, :, None, None])[:, :, 0, 0]
        for layer in self.mapping:
            w = F.leaky_relu(layer(w), 0.2) * math.sqrt(2)
        return w

    def styles(self, z: torch.Tensor) -> torch.Tensor:
        """(n, num_styles, w size): w for every layer, a second w past a random layer for a
        `style_mixing` share of training batches; the running mean of w moves while training."""
        w = self.map(z)
        if self.training:
            with torch.no_grad():
                self.w_average.lerp_(w.detach().mean(0).to(self.w_average.dtype), 1 - W_AVERAGE_DECAY)
        ws = w[:, None].repeat(1, self.num_styles, 1)
        if self.training and self.style_mixing and torch.rand(()) < self.style_mixing:
            crossover = int(torch.randint(1, self.num_styles, ()))
            ws[:, crossover:] = self.map(torch.randn_like(z))[:, None]
        return ws

    def synthesize(self, ws: torch.Tensor, noises: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Images (at the full power-of-two side) from per-layer styles (n, num_styles, w size)."""
        x = self.constant.expand(len(ws), -1, -1, -1)
        styles = iter(ws.unbind(1))
        noise = iter(noises) if noises is not None else None
        x = self.layers[0](x, next(styles), next(noise) if noise else None)
        image = self.to_rgb[0](x, next(styles))
        for level in range(1, self.levels):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            for layer in self.layers[2 * level - 1:2 * level + 1]:
                x = layer(x, next(styles), next(noise) if noise else None)
            image = F.interpolate(image, scale_factor=2.0, mode="bilinear", align_corners=False) + \
                self.to_rgb[level](x, next(styles))
        return image + self.rgb_bias[None, :, None, None]

    def forward(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        ws = self.styles(z)
        if truncation != 1.0:
            ws = self.w_average + truncation * (ws - self.w_average)
        return self.synthesize(ws)


@contextlib.contextmanager
def _noise_from(generator: torch.Generator | None, device: torch.device):
    """The per-pixel noise of sampling drawn from `generator` (the global generators untouched), so
    that a seed gives the same samples every time."""
    seed = int(torch.randint(0, 2 ** 62, (), generator=generator))
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


class StyleGAN(nn.Module):
    """The style-based generator and progan's discriminator at full size, with the GAN loop's interface."""

    capabilities = frozenset({"sample", "interpolate"})
    training_loop = "gan"
    evaluations = ("generative",)
    sampling_options = ("truncation", "mix")

    def __init__(self, config: StyleGANConfig):
        super().__init__()
        require_resolved(config)
        self.config = config
        self.levels = levels_for(config.input_shape)
        self.side = 4 * 2 ** (self.levels - 1)
        self.generator = StyleGenerator(config, self.levels)
        self.discriminator = Discriminator(tuple(config.channels[:self.levels]), config.input_shape[0],
                                           config.minibatch_std)

    @property
    def tanh_output(self) -> bool:
        return self.config.output_activation == "tanh"

    def to_training_range(self, images: torch.Tensor) -> torch.Tensor:
        return images * 2 - 1 if self.tanh_output else images

    def _crop(self, out: torch.Tensor) -> torch.Tensor:
        out = crop(out, self.config.input_shape, self.side)
        return torch.tanh(out) if self.tanh_output else out

    def generate(self, codings: torch.Tensor, labels=None, generator: nn.Module | None = None,
                 truncation: float = 1.0) -> torch.Tensor:
        return self._crop((self.generator if generator is None else generator)(codings, truncation))

    def discriminate(self, images: torch.Tensor, labels=None, discriminator: nn.Module | None = None) -> torch.Tensor:
        x = pad(images, self.config.input_shape, self.side, -1.0 if self.tanh_output else 0.0)
        return (self.discriminator if discriminator is None else discriminator)(x, self.levels - 1, 1.0)

    def _to_data_range(self, out: torch.Tensor) -> torch.Tensor:
        return (out + 1) / 2 if self.tanh_output else out

    def decode(self, codings: torch.Tensor, labels=None, generator: nn.Module | None = None,
               truncation: float = 1.0) -> torch.Tensor:
        return self._to_data_range(self.generate(codings, labels, generator, truncation))

    def random_labels(self, n: int, generator=None):
        return None

    def sample(self, n: int, generator: torch.Generator | None = None, labels=None,
               truncation: float | None = None) -> torch.Tensor:
        """`n` samples; `truncation` < 1 pulls every style toward the mean w (fewer odd samples, less variety)."""
        if labels is not None:
            raise AeganError("stylegan is not conditional: drop --label")
        device = next(self.parameters()).device
        codings = torch.randn(n, self.config.coding_size, generator=generator).to(device)
        was_training = self.training
        self.eval()
        with torch.no_grad(), _noise_from(generator, device):
            images = self.decode(codings, truncation=1.0 if truncation is None else truncation)
        self.train(was_training)
        return images

    def coarse_styles(self) -> int:
        """The styles of the 4x4 and 8x8 layers (and their to-RGB): what a style-mixing grid's rows give."""
        return min(self.generator.num_styles - 1, 5)

    def mixing_grid(self, rows: int, columns: int, generator: torch.Generator | None = None,
                    crossover: int | None = None, truncation: float = 1.0) -> torch.Tensor:
        """(rows + 1, columns + 1, *input_shape) in the data's model scale: the first row shows the
        column sources, the first column the row sources (the top-left corner is blank); each other
        cell takes the styles before `crossover` (default coarse_styles()) from its row's source and
        the rest from its column's source."""
        crossover = self.coarse_styles() if crossover is None else crossover
        if not 1 <= crossover < self.generator.num_styles:
            raise AeganError(f"crossover={crossover}: expected 1 to {self.generator.num_styles - 1}")
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        with torch.no_grad(), _noise_from(generator, device):
            row_z = torch.randn(rows, self.config.coding_size, generator=generator).to(device)
            column_z = torch.randn(columns, self.config.coding_size, generator=generator).to(device)
            average = self.generator.w_average
            row_ws = average + truncation * (self.generator.styles(row_z) - average)
            column_ws = average + truncation * (self.generator.styles(column_z) - average)
            mixed = column_ws[None].repeat(rows, 1, 1, 1)  # (rows, columns, styles, w)
            mixed[:, :, :crossover] = row_ws[:, None, :crossover]
            cells = self.generator.synthesize(mixed.flatten(0, 1))
            images = self._to_data_range(self._crop(cells)).reshape(rows, columns, *self.config.input_shape)
            tops = self._to_data_range(self._crop(self.generator.synthesize(column_ws)))
            lefts = self._to_data_range(self._crop(self.generator.synthesize(row_ws)))
        self.train(was_training)
        grid = torch.ones(rows + 1, columns + 1, *self.config.input_shape, device=device)
        grid[0, 1:], grid[1:, 0], grid[1:, 1:] = tops, lefts, images
        return grid
