"""Dense autoencoders: stacked, linear (PCA), tied, denoising and sparse, in any combination."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aegan.errors import AeganError
from aegan.layers import DenseTranspose, InputNoise, kl_sparsity, l1_activity

ACTIVATIONS = {"selu": nn.SELU, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "linear": nn.Identity}
RECONSTRUCTION_LOSSES = ("binary_crossentropy", "mse")
NOISES = ("none", "gaussian", "dropout")
SPARSITIES = ("none", "l1", "kl")


@dataclass(frozen=True)
class DenseAutoencoderConfig:
    kind: str = "dense_ae"
    input_shape: tuple[int, ...] = (28, 28)
    hidden_sizes: tuple[int, ...] = (100,)
    coding_size: int = 30
    activation: str = "selu"
    # binary_crossentropy: sigmoid outputs, inputs in [0, 1]; mse: linear outputs
    reconstruction_loss: str = "binary_crossentropy"
    coding_activation: str = ""  # the coding layer's activation; "" = `activation`
    output_activation: str = ""  # "" = sigmoid for binary_crossentropy, linear for mse
    tied: bool = False  # decoder reuses the transposed encoder weights, with its own biases
    input_noise: str = "none"  # denoising: "gaussian" (std noise_level) or "dropout" (rate noise_level)
    noise_level: float = 0.0
    sparsity: str = "none"  # "l1" activity penalty or "kl" divergence from sparsity_target
    sparsity_weight: float = 0.0
    sparsity_target: float = 0.1

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
        for name, choices in (("coding_activation", ("", *ACTIVATIONS)), ("output_activation", ("", *ACTIVATIONS)),
                              ("input_noise", NOISES), ("sparsity", SPARSITIES)):
            if getattr(self, name) not in choices:
                raise AeganError(f"model.{name}={getattr(self, name)!r}: expected one of "
                                 f"{', '.join(repr(c) for c in choices)}")
        if not 0 <= self.noise_level < (1 if self.input_noise == "dropout" else float("inf")):
            raise AeganError(f"model.noise_level={self.noise_level}: expected >= 0 (and < 1 for dropout)")
        if self.sparsity_weight < 0 or not 0 < self.sparsity_target < 1:
            raise AeganError("model.sparsity_weight must be >= 0 and model.sparsity_target in (0, 1)")
        if self.sparsity == "kl" and self.coding_activation != "sigmoid":
            raise AeganError("model.sparsity='kl' needs activations in [0, 1]: set model.coding_activation='sigmoid'")
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


def dense_stack(sizes: list[int], activation: str, last_activation: bool | str) -> nn.Sequential:
    """Dense layers; `last_activation` is True (same as the others), False (none) or a name."""
    layers = []
    for index, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(glorot_uniform_(nn.Linear(size_in, size_out)))
        if index < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
        elif last_activation:
            layers.append(ACTIVATIONS[activation if last_activation is True else last_activation]())
    return nn.Sequential(*layers)


class DenseAutoencoder(nn.Module):
    """Flatten, dense layers down to the codings, mirrored dense layers back up, Reshape.

    Options compose: `tied` decoder weights, `input_noise` while training (denoising), and a
    `sparsity` penalty on the codings. `decode` returns probabilities for a binary
    cross-entropy model; `decode_logits` returns the last layer's pre-activation.
    """

    def __init__(self, config: DenseAutoencoderConfig):
        super().__init__()
        self.config = config
        self.input_size = math.prod(config.input_shape)
        down = [self.input_size, *config.hidden_sizes, config.coding_size]
        coding_activation = config.coding_activation or config.activation
        self.noise = InputNoise(config.input_noise, config.noise_level)
        self.encoder = dense_stack(down, config.activation, last_activation=coding_activation)
        output = config.output_activation or ("sigmoid" if config.reconstruction_loss == "binary_crossentropy"
                                              else "linear")
        self.output_activation = output
        # With sigmoid outputs the decoder stops at the logits; decode() applies the sigmoid.
        last = False if output in ("sigmoid", "linear") else output
        if config.tied:
            encoder_linears = [m for m in self.encoder if isinstance(m, nn.Linear)]
            layers = []
            for index, linear in enumerate(reversed(encoder_linears)):
                layers.append(DenseTranspose(linear))
                if index < len(encoder_linears) - 1:
                    layers.append(ACTIVATIONS[config.activation]())
                elif last:
                    layers.append(ACTIVATIONS[last]())
            self.decoder = nn.Sequential(*layers)
        else:
            self.decoder = dense_stack(down[::-1], config.activation, last_activation=last)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decode_logits(z)
        if self.output_activation == "sigmoid":
            out = torch.sigmoid(out)
        return out.view(-1, *self.config.input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        target = x.flatten(1)
        codings = self.encoder(self.noise(target))
        out = self.decode_logits(codings)
        if self.config.reconstruction_loss == "binary_crossentropy":
            if self.output_activation == "sigmoid":
                reconstruction = F.binary_cross_entropy_with_logits(out, target)
            else:
                reconstruction = F.binary_cross_entropy(out.clamp(1e-7, 1 - 1e-7), target)
        else:
            reconstruction = F.mse_loss(out, target)
        terms = {"reconstruction": reconstruction}
        loss = reconstruction
        if self.config.sparsity != "none":
            if self.config.sparsity == "l1":
                penalty = l1_activity(codings)
            else:
                penalty = kl_sparsity(codings, self.config.sparsity_target)
            terms["sparsity"] = self.config.sparsity_weight * penalty
            loss = loss + terms["sparsity"]
        terms["loss"] = loss
        return terms
