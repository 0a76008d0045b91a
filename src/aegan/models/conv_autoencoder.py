"""The seed's convolutional autoencoder: convolutions + max pooling down, transposed convolutions up."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aegan.errors import AeganError
from aegan.layers import InputNoise


@dataclass(frozen=True)
class ConvAutoencoderConfig:
    kind: str = "conv_ae"
    input_shape: tuple[int, ...] = (28, 28)
    filters: tuple[int, ...] = (16, 32, 64)  # 3x3 'same' SELU convolutions, each followed by max pooling 2
    input_noise: str = "none"  # "gaussian" or "dropout", while training only (denoising)
    noise_level: float = 0.0

    def __post_init__(self):
        if tuple(self.input_shape) != (28, 28):
            raise AeganError(f"model.input_shape={list(self.input_shape)}: conv_ae expects [28, 28] images")
        if len(self.filters) != 3 or min(self.filters) <= 0:
            raise AeganError(f"model.filters={list(self.filters)}: expected three positive filter counts")
        if self.input_noise not in ("none", "gaussian", "dropout") or self.noise_level < 0:
            raise AeganError(f"model.input_noise={self.input_noise!r} / noise_level={self.noise_level}: "
                             "expected 'none', 'gaussian' or 'dropout' and a level >= 0")


def _glorot(module: nn.Module) -> nn.Module:
    nn.init.xavier_uniform_(module.weight)
    nn.init.zeros_(module.bias)
    return module


class ConvAutoencoder(nn.Module):
    """28x28 -> conv/pool 16, 32, 64 -> 3x3x64 codings -> ConvT 32 (valid), 16, 1 (sigmoid) -> 28x28."""

    def __init__(self, config: ConvAutoencoderConfig):
        super().__init__()
        self.config = config
        f1, f2, f3 = config.filters
        self.noise = InputNoise(config.input_noise, config.noise_level)
        self.encoder = nn.Sequential(
            _glorot(nn.Conv2d(1, f1, 3, padding=1)), nn.SELU(), nn.MaxPool2d(2),   # 28 -> 14
            _glorot(nn.Conv2d(f1, f2, 3, padding=1)), nn.SELU(), nn.MaxPool2d(2),  # 14 -> 7
            _glorot(nn.Conv2d(f2, f3, 3, padding=1)), nn.SELU(), nn.MaxPool2d(2),  # 7 -> 3
        )
        self.decoder = nn.Sequential(
            _glorot(nn.ConvTranspose2d(f3, f2, 3, stride=2)), nn.SELU(),                               # 3 -> 7
            _glorot(nn.ConvTranspose2d(f2, f1, 3, stride=2, padding=1, output_padding=1)), nn.SELU(),  # 7 -> 14
            _glorot(nn.ConvTranspose2d(f1, 1, 3, stride=2, padding=1, output_padding=1)),              # 14 -> 28
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codings, flattened to (N, 3*3*64)."""
        return self.encoder(x.reshape(len(x), 1, 28, 28)).flatten(1)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z.reshape(len(z), self.config.filters[2], 3, 3)).reshape(len(z), -1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z)).view(-1, 28, 28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.decode_logits(self.encode(self.noise(x)))
        reconstruction = F.binary_cross_entropy_with_logits(logits, x.reshape(len(x), -1))
        return {"loss": reconstruction, "reconstruction": reconstruction}
