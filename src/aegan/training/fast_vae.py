"""A hand-derived training step for the dense VAE with RMSprop: the same update as autograd.

The seed's VAE (784-150-100 -> 10 Gaussian codings -> 100-150-784, SELU) is small enough that
autograd's bookkeeping and the optimizer's per-tensor loop cost more than its matrix products.
This step writes the gradients out by hand, in the order autograd would compute them:

    loss   = BCE(logits, x) averaged over pixels + beta * mean_n(KL_n) / pixels
    dlogits = (sigmoid(logits) - x) / (N * pixels)
    z = mean + exp(log_var / 2) * noise:  dmean = dz + beta * mean / (N * pixels)
                                          dlog_var = dz * (z - mean) / 2 + beta * (exp(log_var) - 1) / (2 N pixels)

in buffers allocated once per batch size (fast_gan's _Pass), and applies RMSprop to each
network's tensors at once on flat buffers (fast_gan's _Network).
It draws the reparameterisation noise with the same torch.randn call as the model, so it
follows the same random stream. tests/test_fast_vae.py checks it against autograd in float64.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from aegan.runtime import keep_freed_memory
from aegan.training import private_ops
from aegan.training.fast_dense import SELU_ALPHA, SELU_SCALE, bce_with_logits_sum
from aegan.training.fast_gan import _Network, _Pass


def supports(model, training) -> bool:
    """The dense VAE with SELU and sigmoid outputs (binary cross-entropy, data in [0, 1]),
    trained by RMSprop without momentum, with training.fast_path on."""
    from aegan.models.vae import VariationalAutoencoder

    return (type(model) is VariationalAutoencoder and model.config.activation == "selu"
            and model.config.reconstruction_loss == "binary_crossentropy"
            and training.optimizer == "rmsprop" and training.momentum == 0.0 and training.fast_path)


def make_vae_step(model, optimizer):
    """A function that takes one RMSprop step on a batch and returns the batch's summed loss."""
    keep_freed_memory()
    linears = lambda module: [m for m in module if isinstance(m, nn.Linear)]  # noqa: E731
    encoder = _Network(linears(model.encoder), optimizer)  # its last SELU is applied below
    mean_head = _Network([model.mean_head], optimizer)
    log_var_head = _Network([model.log_var_head], optimizer)
    decoder = _Network(linears(model.decoder), optimizer)
    networks = (encoder, mean_head, log_var_head, decoder)
    beta = model.config.beta
    elu_backward_into = private_ops.elu_backward_into()
    plans = {}

    def plan(like: torch.Tensor) -> SimpleNamespace:
        """The buffers of a step on a batch like `like` (one set per batch size)."""
        n = len(like)
        hidden = like.new_empty(n, encoder.weights[-1].shape[0])
        codings = like.new_empty(n, decoder.weights[0].shape[1])
        return SimpleNamespace(encoder=_Pass.on(encoder, like), hidden=hidden, mean=_Pass.on(mean_head, hidden),
                               log_var=_Pass.on(log_var_head, hidden), codings=codings,
                               decoder=_Pass.on(decoder, codings))

    @torch.no_grad()
    def step(x: torch.Tensor) -> torch.Tensor:
        n = len(x)
        target = x.reshape(n, -1)
        pixels = target.shape[1]
        key = (n, target.dtype, target.device)
        if key not in plans:
            plans[key] = plan(target)
        p = plans[key]
        hidden = torch.selu_(p.encoder.forward(target, out=p.hidden))
        mean, log_var = p.mean.forward(), p.log_var.forward()
        noise = torch.randn(mean.shape, device=mean.device, dtype=mean.dtype)
        spread = torch.exp(0.5 * log_var)
        torch.addcmul(mean, spread, noise, out=p.codings)
        logits = p.decoder.forward()
        probabilities = torch.sigmoid(logits)
        reconstruction = bce_with_logits_sum(logits, probabilities, target) / target.numel()
        variance = spread.square()
        kl = (1 + log_var - variance - mean.square()).sum(dim=1).mean().mul(-0.5)
        loss = reconstruction + beta * kl / pixels

        scale = 1.0 / (n * pixels)
        torch.sub(probabilities, target, out=p.decoder.deltas[-1]).mul_(scale)
        p.decoder.backward(input_grad=True)
        grad_codings = p.decoder.input_grad
        torch.add(grad_codings, mean, alpha=beta * scale, out=p.mean.deltas[-1])
        torch.mul(grad_codings, spread, out=p.log_var.deltas[-1]).mul_(noise).mul_(0.5).add_(
            variance.sub(1), alpha=0.5 * beta * scale)
        p.mean.backward(input_grad=True)
        p.log_var.backward(input_grad=True)
        grad_hidden = p.mean.input_grad.add_(p.log_var.input_grad)
        elu_backward_into(grad_hidden, SELU_ALPHA, SELU_SCALE, 1.0, True, hidden, grad_input=p.encoder.deltas[-1])
        p.encoder.backward()
        for network in networks:
            network.rmsprop_()
        return loss * x.numel()

    return step
