"""torch.compile for the training steps (training.compile).

With `training.compile = true` the forward passes of the plain autograd step are compiled by
torch.compile with `training.compile_backend` ("inductor", torch's default: kernels generated for
this machine, which on a CPU needs a C++ compiler): an autoencoder's or a diffusion model's
loss_terms, a GAN's generate and discriminate. The hand-derived fast steps are then off, and the
weights are those of the autograd step up to floating-point rounding. The first steps are slow
while the graphs compile; it pays on long runs and on GPUs.
"""

from __future__ import annotations

from typing import Callable

import torch

from aegan.errors import AeganError


def backends() -> list[str]:
    """The backend names torch.compile takes here, debugging ones included."""
    return sorted(torch.compiler.list_backends(exclude_tags=()))


def compiled(function: Callable, training) -> Callable:
    """`function` compiled when training.compile is on, else `function` itself."""
    if not getattr(training, "compile", False):
        return function
    backend = training.compile_backend
    if backend not in backends():
        raise AeganError(f"training.compile_backend={backend!r}: not a torch.compile backend here; expected one "
                         f"of {', '.join(backends())} (inductor is torch's default)")
    return torch.compile(function, backend=backend)


class CompiledNetworks:
    """A GAN's generate() and discriminate(), compiled: the `networks` of training/gan_step.py."""

    def __init__(self, model, training):
        self.generate = compiled(model.generate, training)
        self.discriminate = compiled(model.discriminate, training)
