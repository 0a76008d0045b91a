"""Layers and penalties the models share: tied dense layers, input noise, sparsity, minibatch
discrimination, the equalised-learning-rate layers of progan and stylegan, and the sizes of
strided convolutions."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from aegan import shards


class DenseTranspose(nn.Module):
    """A dense layer that reuses another layer's weights, transposed, with biases of its own."""

    def __init__(self, tied_to: nn.Linear):
        super().__init__()
        self.tied_to = [tied_to]  # a list, so the weight is not registered twice
        self.bias = nn.Parameter(torch.zeros(tied_to.in_features))

    @property
    def in_features(self) -> int:
        return self.tied_to[0].out_features

    @property
    def out_features(self) -> int:
        return self.tied_to[0].in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x, self.tied_to[0].weight)


class InputNoise(nn.Module):
    """Gaussian noise (standard deviation `level`) or dropout (rate `level`), while training only."""

    def __init__(self, kind: str, level: float):
        super().__init__()
        self.kind, self.level = kind, level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.kind == "none" or self.level == 0:
            return x
        if self.kind == "gaussian":
            return x + self.level * shards.rows(lambda n: torch.randn((n, *x.shape[1:]), dtype=x.dtype,
                                                                       device=x.device), len(x))
        return shards.dropout(x, self.level)

    def extra_repr(self) -> str:
        return f"{self.kind}, level={self.level}"


def l1_activity(codings: torch.Tensor) -> torch.Tensor:
    """Sum of |codings| over units, averaged over the batch (Keras' L1 activity regularizer)."""
    return codings.abs().sum(dim=1).mean()


def kl_sparsity(codings: torch.Tensor, target: float, eps: float = 1e-7) -> torch.Tensor:
    """KL(target || mean activation) + KL(1 - target || 1 - mean activation), summed over units."""
    mean = codings.mean(dim=0).clamp(eps, 1 - eps)
    return (target * torch.log(target / mean) + (1 - target) * torch.log((1 - target) / (1 - mean))).sum()


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. (2016): features that measure how close each sample is to the rest of its batch.

    A learned tensor T maps the input features f (N, A) to M (N, B, C); for each of the B kernels,
    o_b(i) = sum_{j != i} exp(-||M_i,b - M_j,b||_1). The output is [f, o] (N, A + B). A batch of
    near-copies gives large o, which the discriminator can learn to reject.
    """

    def __init__(self, in_features: int, num_kernels: int, kernel_dims: int = 5):
        super().__init__()
        self.num_kernels, self.kernel_dims = num_kernels, kernel_dims
        self.T = nn.Parameter(torch.randn(in_features, num_kernels * kernel_dims) * 0.1)

    def closeness(self, features: torch.Tensor) -> torch.Tensor:
        m = (features @ self.T).view(-1, self.num_kernels, self.kernel_dims)
        distances = (m[:, None] - m[None]).abs().sum(dim=3)  # (N, N, B)
        return torch.exp(-distances).sum(dim=1) - 1.0  # minus each sample's closeness to itself

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([features, self.closeness(features)], dim=1)


class MinibatchStdDev(nn.Module):
    """Karras et al. (2018): one more feature, the standard deviation of each feature over the
    batch, averaged; a batch of near-copies has a small one, which the discriminator can learn
    to reject. The same value is appended to every sample of the batch."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        spread = features.std(dim=0, unbiased=False).mean() if len(features) > 1 else features.new_zeros(())
        return torch.cat([features, spread.expand(len(features), 1)], dim=1)


def halved(side: int) -> int:
    """The output size of a stride-2 convolution that pads by half its kernel (3x3 with padding 1,
    5x5 with padding 2): ceil(side / 2), so 28 -> 14 -> 7 and 7 -> 4."""
    return (side + 1) // 2


def doubling_output_padding(a: int, b: int) -> int:
    """The output padding of the stride-2 transposed convolution (3x3 with padding 1, 5x5 with
    padding 2) that undoes `halved`: from a to b, where b is 2a - 1 (0) or 2a (1)."""
    if b not in (2 * a - 1, 2 * a):
        raise ValueError(f"no stride-2 transposed convolution with half-kernel padding goes from {a} to {b}")
    return b - (2 * a - 1)


class EqualizedConv2d(nn.Module):
    """A convolution whose weights are N(0, 1) and scaled by sqrt(2 / fan_in) at run time, so that
    Adam's steps move every layer at the same relative rate (equalised learning rate)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = math.sqrt(2.0 / (in_channels * kernel_size * kernel_size))
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """A dense layer with the equalised learning rate of EqualizedConv2d; `learning_rate_multiplier`
    slows the layer down (StyleGAN's mapping network: 0.01), `bias_init` starts its biases there."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2.0),
                 learning_rate_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / learning_rate_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / learning_rate_multiplier))
        self.scale = gain / math.sqrt(in_features) * learning_rate_multiplier
        self.bias_scale = learning_rate_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.bias_scale)


def pixel_norm(x: torch.Tensor) -> torch.Tensor:
    """Each pixel's feature vector scaled to unit root mean square."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)
