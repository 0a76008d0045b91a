"""The one place that chooses a training step: a hand-derived or tuned fast step where one
applies (same results as autograd, faster on the CPU), else the plain autograd step.

Each selector returns (step, name), the name being what the loops log and record:

    fast_dense             dense autoencoders with plain SGD (training/fast_dense.py)
    fast_vae               the dense VAE with RMSprop (training/fast_vae.py)
    fast_conv_autoencoder  the convolutional autoencoder on the CPU (training/fast_conv.py)
    fast_gan               the unconditional dense GAN with RMSprop (training/fast_gan.py)
    fast_dcgan             the unconditional DCGAN on the CPU, with the loop's losses and options (training/fast_conv.py)
    compiled               the autograd step with torch.compile (training.compile; training/compiled.py)
    autograd               everything else

Each fast module's `supports` says where its math holds (loss, activations, optimizer,
layer shapes); none applies with training.fast_path off or training.compile on.
"""

from __future__ import annotations

from typing import Callable

import torch

from aegan.training import fast_conv, fast_dense, fast_gan, fast_vae
from aegan.training.compiled import CompiledNetworks, compiled
from aegan.training.precision import FP32, Precision

AUTOENCODER_STEPS = ("fast_dense", "fast_vae", "fast_conv_autoencoder", "compiled", "autograd")
GAN_STEPS = ("fast_gan", "fast_dcgan", "compiled", "autograd")


def autograd_step(model, optimizer, precision: Precision = FP32,
                  loss_terms: Callable | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The plain autoencoder step: loss_terms (under autocast with mixed precision), backward, the
    optimizer's step; returns the summed loss. `loss_terms`: the model's, or a compiled one."""
    loss_terms = model.loss_terms if loss_terms is None else loss_terms

    def step(x: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            loss = precision.full(loss_terms(x)["loss"])
        precision.backward(loss)
        precision.step(optimizer)
        precision.update()
        return loss.detach() * x.numel()

    return step


def fast_allowed(training) -> bool:
    """The hand-derived steps: on unless training.fast_path is off or training.compile on; fp32 and a
    constant learning rate only."""
    return (training.fast_path and not getattr(training, "compile", False)
            and getattr(training, "precision", "fp32") == "fp32"
            and getattr(training, "learning_rate_schedule", "constant") == "constant")


def select_autoencoder_step(model, training, optimizer,
                            precision: Precision = FP32) -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    """(step, name): step(x) takes one optimisation step on a batch x (N, *input_shape) and
    returns the batch's summed loss (the mean loss times x.numel()).

    fast_dense updates the parameters itself (the same update as torch.optim.SGD, so checkpoints
    are the same); fast_vae runs RMSprop on the optimizer's own state; fast_conv_autoencoder
    keeps autograd and the optimizer.
    """
    if fast_allowed(training) and fast_dense.supports(model, training):
        fast_step = fast_dense.FastDenseSGD(model, training.learning_rate)
        return (lambda x: fast_step(x.reshape(len(x), -1))), "fast_dense"
    if fast_allowed(training) and fast_vae.supports(model, training):
        return fast_vae.make_vae_step(model, optimizer), "fast_vae"
    if fast_allowed(training) and fast_conv.supports_autoencoder(model, training):
        return fast_conv.make_autoencoder_step(model, optimizer), "fast_conv_autoencoder"
    if getattr(training, "compile", False):
        return autograd_step(model, optimizer, precision, compiled(model.loss_terms, training)), "compiled"
    return autograd_step(model, optimizer, precision), "autograd"


def plain_gan(model, training, average=None) -> bool:
    """Whether a GAN trains as the chapter's does (BCE, one critic step, no penalty, packing,
    spectral norm, minibatch std, moving average or augmentation): the fast steps' math."""
    config = model.config
    return (training.gan_loss == "bce" and training.critic_steps == 1 and not training.gradient_penalty
            and not training.r1_penalty and not training.augment and average is None
            and getattr(config, "pack", 1) == 1 and not getattr(config, "spectral_norm", False)
            and not getattr(config, "minibatch_std", False))


def select_gan_step(model, training, optimizer_d, optimizer_g, replay, average=None, precision: Precision = FP32):
    """(step, name): step(real, labels) takes the two-phase step on a batch of reals (in the
    training range, model.to_training_range) and returns D's logits on [reals; fakes] and on
    phase 2's fakes (training/gan_step.py's make_gan_step contract)."""
    plain = plain_gan(model, training, average)
    if fast_allowed(training) and plain and fast_gan.supports(model, training):
        return fast_gan.make_fast_gan_step(model, optimizer_d, optimizer_g, replay), "fast_gan"
    if fast_allowed(training) and fast_conv.supports_gan(model, training):  # with the loop's options
        return fast_conv.make_dcgan_step(model, optimizer_d, optimizer_g, replay, training, average), "fast_dcgan"
    from aegan.training.gan_step import make_gan_step

    networks = CompiledNetworks(model, training) if getattr(training, "compile", False) else None
    return make_gan_step(model, optimizer_d, optimizer_g, replay, training, networks=networks, average=average,
                         precision=precision), "compiled" if networks else "autograd"
