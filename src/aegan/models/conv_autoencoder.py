"""The seed's convolutional autoencoder: convolutions + max pooling down, transposed convolutions up.

Built for the data's images (C, H, W): three 3x3 'same' convolutions, each followed by 2x2
max pooling (sizes H -> H//2 -> H//4 -> H//8, floored, and the same for the width), then
three stride-2 transposed convolutions back up, each from a to b = 2a (padding 1, output
padding 1) or b = 2a + 1 (padding 0, no output padding), per dimension. On 28x28 images this
is the seed's model exactly: 28 -> 14 -> 7 -> 3, then 3 -> 7 (valid) -> 14 -> 28.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aegan.errors import AeganError
from aegan.layers import InputNoise
from aegan.models.autoencoders import (
    AUTOENCODER_CAPABILITIES,
    check_input_shape,
    check_reconstruction_loss,
    require_image_layout,
    require_resolved,
    with_data_shape_and_loss,
)

MIN_SIDE = 8  # three 2x2 poolings leave at least one pixel


@dataclass(frozen=True)
class ConvAutoencoderConfig:
    kind: str = "conv_ae"
    input_shape: tuple[int, ...] = ()  # () = the data's (channels, height, width) (for_data)
    filters: tuple[int, ...] = (16, 32, 64)  # 3x3 'same' SELU convolutions, each followed by max pooling 2
    input_noise: str = "none"  # "gaussian" or "dropout", while training only (denoising)
    noise_level: float = 0.0
    # auto: binary_crossentropy (sigmoid outputs) for data in [0, 1], mse (linear outputs) otherwise
    reconstruction_loss: str = "auto"

    def __post_init__(self):
        check_input_shape(self, dims=(2, 3))  # 2: an older run's [28, 28], one channel
        if len(self.input_shape) == 3:
            _check_side(self.input_shape[1:])
        if len(self.filters) != 3 or min(self.filters) <= 0:
            raise AeganError(f"model.filters={list(self.filters)}: expected three positive filter counts")
        if self.input_noise not in ("none", "gaussian", "dropout") or self.noise_level < 0:
            raise AeganError(f"model.input_noise={self.input_noise!r} / noise_level={self.noise_level}: "
                             "expected 'none', 'gaussian' or 'dropout' and a level >= 0")
        check_reconstruction_loss(self.reconstruction_loss)

    @property
    def resolved(self) -> bool:
        return len(self.input_shape) == 3 and self.reconstruction_loss != "auto"

    def for_data(self, spec) -> "ConvAutoencoderConfig":
        """This config with the data's image shape and, unless set, its reconstruction loss."""
        require_image_layout("conv_ae", spec, "stacked_ae")
        return with_data_shape_and_loss(self, spec)


def _check_side(sides) -> None:
    if min(sides) < MIN_SIDE:
        raise AeganError(f"conv_ae on {sides[0]}x{sides[1]} images: its three 2x2 poolings need images of at "
                         f"least {MIN_SIDE}x{MIN_SIDE}; resize them (data.image_size) or use a dense preset "
                         "such as stacked_ae")


def _glorot(module: nn.Module) -> nn.Module:
    nn.init.xavier_uniform_(module.weight)
    nn.init.zeros_(module.bias)
    return module


def pooled_sizes(side: int) -> list[int]:
    """[side, side//2, side//4, side//8]: the sizes after each 2x2 max pooling (floored)."""
    sizes = [side]
    for _ in range(3):
        sizes.append(sizes[-1] // 2)
    return sizes


def upsampling(a: int, b: int) -> tuple[int, int]:
    """(padding, output_padding) of a 3x3 stride-2 transposed convolution from size a to b (2a or 2a+1)."""
    if b == 2 * a:
        return 1, 1
    if b == 2 * a + 1:
        return 0, 0
    raise ValueError(f"no 3x3 stride-2 transposed convolution goes from {a} to {b}")


def decoder_paddings(height: int, width: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """((padding h, w), (output padding h, w)) of the three transposed convolutions that undo three
    2x2 poolings of an image of height x width: H//8 -> H//4 -> H//2 -> H, and the same for the width."""
    heights, widths = pooled_sizes(height), pooled_sizes(width)
    return [tuple(zip(*(upsampling(sizes[i], sizes[i - 1]) for sizes in (heights, widths)))) for i in (3, 2, 1)]


class ConvAutoencoder(nn.Module):
    """(C, H, W) -> conv/pool 16, 32, 64 -> (64, H//8, W//8) codings -> ConvT 32, 16, C (sigmoid) -> (C, H, W)."""

    capabilities = AUTOENCODER_CAPABILITIES
    training_loop = "autoencoder"
    evaluations = ("reconstruction", "representation")

    def __init__(self, config: ConvAutoencoderConfig):
        super().__init__()
        require_resolved(config)
        self.config = config
        channels, height, width = config.input_shape
        heights, widths = pooled_sizes(height), pooled_sizes(width)
        self.coding_shape = (config.filters[2], heights[3], widths[3])
        f1, f2, f3 = config.filters
        self.noise = InputNoise(config.input_noise, config.noise_level)
        self.encoder = nn.Sequential(
            _glorot(nn.Conv2d(channels, f1, 3, padding=1)), nn.SELU(), nn.MaxPool2d(2),  # 28 -> 14
            _glorot(nn.Conv2d(f1, f2, 3, padding=1)), nn.SELU(), nn.MaxPool2d(2),        # 14 -> 7
            _glorot(nn.Conv2d(f2, f3, 3, padding=1)), nn.SELU(), nn.MaxPool2d(2),        # 7 -> 3
        )
        up = decoder_paddings(height, width)
        self.decoder = nn.Sequential(  # each up[i] is ((padding h, w), (output padding h, w))
            _glorot(nn.ConvTranspose2d(f3, f2, 3, stride=2, padding=up[0][0], output_padding=up[0][1])),  # 3 -> 7
            nn.SELU(),
            _glorot(nn.ConvTranspose2d(f2, f1, 3, stride=2, padding=up[1][0], output_padding=up[1][1])),  # 7 -> 14
            nn.SELU(),
            _glorot(nn.ConvTranspose2d(f1, channels, 3, stride=2, padding=up[2][0],
                                       output_padding=up[2][1])),  # 14 -> 28
        )
        self.sigmoid_output = config.reconstruction_loss == "binary_crossentropy"
        self.output_activation = "sigmoid" if self.sigmoid_output else "linear"

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codings, flattened to (N, 64 * H//8 * W//8)."""
        return self.encoder(x.reshape(len(x), *self.config.input_shape)).flatten(1)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z.reshape(len(z), *self.coding_shape)).reshape(len(z), -1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decode_logits(z)
        if self.sigmoid_output:
            out = torch.sigmoid(out)
        return out.view(-1, *self.config.input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss_from_logits(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The mean loss of decode_logits' output against flattened targets (N, C*H*W)."""
        if self.sigmoid_output:
            return F.binary_cross_entropy_with_logits(logits, target)
        return F.mse_loss(logits, target)

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.decode_logits(self.encode(self.noise(x)))
        reconstruction = self.loss_from_logits(logits, x.reshape(len(x), -1))
        return {"loss": reconstruction, "reconstruction": reconstruction}
