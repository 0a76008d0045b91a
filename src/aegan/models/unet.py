"""The small U-Net that denoises for `ddpm`: (noisy images, time step[, class]) -> a prediction.

    conv 3x3 -> [ResBlock (+ time/class embedding), downsample] per level -> ResBlock, self-attention,
    ResBlock at the lowest resolution -> [concatenate the level's skip, ResBlock, upsample] per level
    -> GroupNorm, SiLU, conv 3x3 (zero-initialised: the untrained network predicts 0)

The time step enters through a sinusoidal embedding (Vaswani et al. 2017; Ho et al. 2020) and a
small MLP; a class label (when conditional) through an embedding added to it, with one extra
"no class" index for classifier-free guidance. Images of any size work: they are padded to a
multiple of 2^(levels - 1) and the output is cropped back.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embeddings (N, dim) of (N,) time steps: cosines then sines at geometric frequencies."""
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32,
                                                                 device=timesteps.device) / half)
    angles = timesteps.float()[:, None] * frequencies[None]
    embedding = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
    return F.pad(embedding, (0, dim % 2))


def _groups(channels: int) -> int:
    return math.gcd(channels, 8)


class ResidualBlock(nn.Module):
    """GroupNorm, SiLU, conv; plus the embedding's per-channel shift; GroupNorm, SiLU, conv; plus the input."""

    def __init__(self, in_channels: int, out_channels: int, embedding_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(in_channels), in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.embedding = nn.Linear(embedding_dim, out_channels)
        self.norm2 = nn.GroupNorm(_groups(out_channels), out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.embedding(embedding)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map, with a residual connection."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.heads = heads if channels % heads == 0 else 1
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        attended = F.scaled_dot_product_attention(q, k, v)  # (n, heads, h*w, c/heads)
        return x + self.out(attended.transpose(-1, -2).reshape(n, c, h, w))


class UNet(nn.Module):
    """The denoiser: `forward(x, timesteps, labels=None)` -> a tensor of x's shape."""

    def __init__(self, image_channels: int, channels: tuple[int, ...], num_classes: int = 0,
                 attention: bool = True, dropout: float = 0.0):
        super().__init__()
        base = channels[0]
        self.levels = len(channels)
        self.embedding_dim = 4 * base
        self.base = base
        self.time_mlp = nn.Sequential(nn.Linear(base, self.embedding_dim), nn.SiLU(),
                                      nn.Linear(self.embedding_dim, self.embedding_dim))
        # one more class index than the data has: "no class", for classifier-free guidance
        self.class_embedding = nn.Embedding(num_classes + 1, self.embedding_dim) if num_classes else None
        self.conv_in = nn.Conv2d(image_channels, base, 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        previous = base
        for level, width in enumerate(channels):
            self.down.append(ResidualBlock(previous, width, self.embedding_dim, dropout))
            previous = width
            if level < self.levels - 1:
                self.downsample.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
        self.middle1 = ResidualBlock(previous, previous, self.embedding_dim, dropout)
        self.attention = SelfAttention(previous) if attention else nn.Identity()
        self.middle2 = ResidualBlock(previous, previous, self.embedding_dim, dropout)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level in reversed(range(self.levels)):
            width = channels[level]
            self.up.append(ResidualBlock(previous + width, width, self.embedding_dim, dropout))
            previous = width
            if level > 0:
                self.upsample.append(nn.Conv2d(width, channels[level - 1], 3, padding=1))
                previous = channels[level - 1]
        self.norm_out = nn.GroupNorm(_groups(previous), previous)
        self.conv_out = nn.Conv2d(previous, image_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        height, width = x.shape[-2:]
        multiple = 2 ** (self.levels - 1)
        pad_h, pad_w = -height % multiple, -width % multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect" if min(height, width) > max(pad_h, pad_w) else "replicate")
        embedding = self.time_mlp(timestep_embedding(timesteps, self.base))
        if self.class_embedding is not None:
            if labels is None:
                raise ValueError("a class-conditional U-Net needs labels (its last index means 'no class')")
            embedding = embedding + self.class_embedding(labels)
        h = self.conv_in(x)
        skips = []
        for level, block in enumerate(self.down):
            h = block(h, embedding)
            skips.append(h)
            if level < self.levels - 1:
                h = self.downsample[level](h)
        h = self.middle2(self.attention(self.middle1(h, embedding)), embedding)
        for index, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), embedding)
            if index < self.levels - 1:
                h = self.upsample[index](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        out = self.conv_out(F.silu(self.norm_out(h)))
        return out[..., :height, :width]
