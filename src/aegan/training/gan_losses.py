"""GAN losses and the penalties on the discriminator's gradients, as functions of its logits.

`training.gan_loss` picks one:
- `bce`: the chapter's. The discriminator minimises binary cross-entropy with reals labelled 1
  and fakes 0; the generator minimises it with its fakes labelled 1, which is the
  non-saturating loss of Goodfellow et al. (-log D(G(z))): strong gradients while D wins.
- `minimax`: the saturating form that the minimax game writes, log(1 - D(G(z))), for comparison:
  its gradients vanish exactly when D wins, which is why nobody trains with it.
- `hinge`: max(0, 1 - D(x)) + max(0, 1 + D(G(z))) for D, -D(G(z)) for G (SAGAN, BigGAN).
- `least_squares`: (D(x) - 1)^2 / 2 + D(G(z))^2 / 2 for D, (D(G(z)) - 1)^2 / 2 for G (LSGAN).
- `wasserstein`: D(G(z)) - D(x) for the critic, -D(G(z)) for G, with the gradient penalty
  (WGAN-GP) and `training.critic_steps` critic steps per generator step.

`gradient_penalty` (WGAN-GP, on points between reals and fakes, pulls the gradient's norm to 1)
and `r1_penalty` (on reals, pulls it to 0) are added to the discriminator's loss with the weights
`training.gradient_penalty` and `training.r1_penalty`.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from aegan import shards

GAN_LOSSES = ("bce", "minimax", "hinge", "least_squares", "wasserstein")


def discriminator_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's (or critic's) loss on a batch of reals and one of fakes."""
    if kind in ("bce", "minimax"):  # the same for D: reals 1, fakes 0
        return 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                      + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    if kind == "least_squares":
        return 0.5 * ((real_logits - 1).square().mean() + fake_logits.square().mean())
    if kind == "wasserstein":
        return fake_logits.mean() - real_logits.mean()
    raise ValueError(f"gan loss {kind!r}: expected one of {', '.join(GAN_LOSSES)}")


def generator_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's loss on the discriminator's logits of its fakes."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))  # fakes labelled 1
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()  # log(1 - sigmoid(l)) = -softplus(l)
    if kind in ("hinge", "wasserstein"):
        return -fake_logits.mean()
    if kind == "least_squares":
        return 0.5 * (fake_logits - 1).square().mean()
    raise ValueError(f"gan loss {kind!r}: expected one of {', '.join(GAN_LOSSES)}")


def _input_gradients(discriminate: Callable, inputs: torch.Tensor, labels) -> torch.Tensor:
    inputs = inputs.detach().requires_grad_(True)
    logits = discriminate(inputs, labels)
    (gradients,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return gradients.flatten(1)


def gradient_penalty(discriminate: Callable, reals: torch.Tensor, fakes: torch.Tensor, labels=None) -> torch.Tensor:
    """WGAN-GP: E[(||grad D(x_hat)|| - 1)^2] on x_hat drawn uniformly between pairs of reals and fakes."""
    mix = shards.rows(lambda n: torch.rand((n,) + (1,) * (reals.dim() - 1), device=reals.device), len(reals))
    between = reals.detach() + mix * (fakes.detach() - reals.detach())
    norms = _input_gradients(discriminate, between, labels).norm(dim=1)
    return (norms - 1).square().mean()


def r1_penalty(discriminate: Callable, reals: torch.Tensor, labels=None) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on reals, halved as the paper writes it."""
    return 0.5 * _input_gradients(discriminate, reals, labels).square().sum(dim=1).mean()
