"""A hand-derived training step for the dense VAE with RMSprop: the same update as autograd.

The seed's VAE (784-150-100 -> 10 Gaussian codings -> 100-150-784, SELU) is small enough that
autograd's bookkeeping and the optimizer's per-tensor loop cost more than its matrix products.
This step writes the gradients out by hand, in the order autograd would compute them:

    loss   = BCE(logits, x) averaged over pixels + beta * mean_n(KL_n) / pixels
    dlogits = (sigmoid(logits) - x) / (N * pixels)
    z = mean + exp(log_var / 2) * noise:  dmean = dz + beta * mean / (N * pixels)
                                          dlog_var = dz * (z - mean) / 2 + beta * (exp(log_var) - 1) / (2 N pixels)

and applies RMSprop to each network's tensors at once on flat buffers (fast_gan's _Network).
It draws the reparameterisation noise with the same torch.randn call as the model, so it
follows the same random stream. tests/test_fast_vae.py checks it against autograd in float64.
"""

from __future__ import annotations

import torch
from torch import nn

from aegan.runtime import keep_freed_memory
from aegan.training.fast_dense import bce_with_logits_sum
from aegan.training.fast_gan import _elu_backward, _Network


def supports(model, training) -> bool:
    from aegan.models.vae import VariationalAutoencoder

    return (type(model) is VariationalAutoencoder and model.config.activation == "selu"
            and training.optimizer == "rmsprop" and training.momentum == 0.0 and training.fast_path)


def make_vae_step(model, optimizer):
    """A function that takes one RMSprop step on a batch and returns the batch's summed loss."""
    keep_freed_memory()
    linears = lambda module: [m for m in module if isinstance(m, nn.Linear)]  # noqa: E731
    encoder = _Network(linears(model.encoder), optimizer)  # its last SELU is applied below
    mean_head = _Network([model.mean_head], optimizer)
    log_var_head = _Network([model.log_var_head], optimizer)
    decoder = _Network(linears(model.decoder), optimizer)
    beta = model.config.beta

    @torch.no_grad()
    def step(x: torch.Tensor) -> torch.Tensor:
        n = len(x)
        target = x.reshape(n, -1)
        pixels = target.shape[1]
        encoded = encoder.forward(target)
        hidden = torch.selu_(encoded[-1])
        mean_outputs, log_var_outputs = mean_head.forward(hidden), log_var_head.forward(hidden)
        mean, log_var = mean_outputs[-1], log_var_outputs[-1]
        noise = torch.randn(mean.shape, device=mean.device, dtype=mean.dtype)
        spread = torch.exp(0.5 * log_var)
        codings = torch.addcmul(mean, spread, noise)
        decoded = decoder.forward(codings)
        logits = decoded[-1]
        probabilities = torch.sigmoid(logits)
        reconstruction = bce_with_logits_sum(logits, probabilities, target) / target.numel()
        variance = spread.square()
        kl = (1 + log_var - variance - mean.square()).sum(dim=1).mean().mul(-0.5)
        loss = reconstruction + beta * kl / pixels

        scale = 1.0 / (n * pixels)
        grad_codings = decoder.backward(decoded, probabilities.sub_(target).mul_(scale), input_grad=True)
        grad_mean = grad_codings.add(mean, alpha=beta * scale)
        grad_log_var = (grad_codings * spread * noise).mul_(0.5).add_(variance.sub(1), alpha=0.5 * beta * scale)
        grad_hidden = mean_head.backward(mean_outputs, grad_mean, input_grad=True)
        grad_hidden += log_var_head.backward(log_var_outputs, grad_log_var, input_grad=True)
        encoder.backward(encoded, _elu_backward(grad_hidden, hidden))
        for network in (encoder, mean_head, log_var_head, decoder):
            network.rmsprop_()
        return loss * x.numel()

    return step
