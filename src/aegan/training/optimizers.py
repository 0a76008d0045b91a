"""Optimizers by name, with Keras' defaults so that the book's recipes carry over."""

from __future__ import annotations

import torch


def build_optimizer(name: str, parameters, learning_rate: float, momentum: float = 0.0,
                    betas: tuple[float, ...] = (0.9, 0.999)):
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=learning_rate, momentum=momentum)
    if name == "rmsprop":  # Keras: rho 0.9, epsilon 1e-7
        return torch.optim.RMSprop(parameters, lr=learning_rate, alpha=0.9, eps=1e-7, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=learning_rate, eps=1e-7, betas=tuple(betas))
    if name == "nadam":
        return torch.optim.NAdam(parameters, lr=learning_rate, eps=1e-7, betas=tuple(betas))
    raise ValueError(f"unknown optimizer {name!r}")
