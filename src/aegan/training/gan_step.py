"""The two-phase GAN step with autograd, and every option of training.gan_* around it.

For each batch of reals:
  phase 1 (`training.critic_steps` times): the discriminator sees as many fakes (from the
           generator, or from the replay pool) as reals and takes one optimizer step on its loss
           (training/gan_losses.py), plus the gradient penalty and the R1 penalty when weighted;
  phase 2: the generator makes a new batch of fakes and takes one step through the
           discriminator, whose weights are frozen (requires_grad off) for that phase; then its
           moving average (`training.ema_decay`) takes the new weights in.
With `training.augment`, both phases show the discriminator augmented reals and fakes
(DiffAugment). With the defaults (the chapter's BCE, one critic step, nothing else) this is the
seed's loop, draw for draw.
"""

from __future__ import annotations

import torch

from aegan import shards

from aegan.training.augment import diff_augment
from aegan.training.gan_losses import discriminator_loss, generator_loss, gradient_penalty, r1_penalty
from aegan.training.precision import FP32, Precision


def make_gan_step(model, optimizer_d, optimizer_g, replay, training=None, networks=None, average=None,
                  precision: Precision = FP32):
    """step(real, labels) -> (D's logits on [reals; fakes] of the last critic step, D's logits on
    phase 2's fakes), for training/gan.py's epoch_metrics.

    `networks` (default: the model) provides generate() and discriminate(): training/fast_conv.py
    passes the same networks computed faster. `average` is the generator's moving average
    (training/ema.py), updated after each generator step. `precision` (training/precision.py)
    runs the forward passes under autocast and the backward passes through its gradient scaler.
    """
    networks = model if networks is None else networks
    discriminator_parameters = list(model.discriminator.parameters())
    loss = getattr(training, "gan_loss", "bce")
    critic_steps = getattr(training, "critic_steps", 1)
    penalty, r1 = getattr(training, "gradient_penalty", 0.0), getattr(training, "r1_penalty", 0.0)
    policies = tuple(getattr(training, "augment", ()))
    classes = model.config.num_classes

    def discriminate(images, labels):
        return networks.discriminate(diff_augment(images, policies) if policies else images, labels)

    def random_labels(n, device):
        return shards.rows(lambda rows: torch.randint(0, classes, (rows,), device=device), n)

    def step(real: torch.Tensor, labels: torch.Tensor | None):
        n = len(real)
        device = real.device
        codings = shards.blocks(lambda rows: torch.randn(rows, model.config.coding_size, device=device), n,
                                critic_steps + 1)  # n per pass
        for critic_step in range(critic_steps):
            fake_labels = None if labels is None else random_labels(n, device)
            with precision.autocast():
                with torch.no_grad():
                    fakes = precision.full(networks.generate(codings[critic_step], fake_labels))
                fakes, fake_labels = replay(fakes, fake_labels)
                logits_real = precision.full(discriminate(real, labels))
                logits_fake = precision.full(discriminate(fakes, fake_labels))
                d_loss = discriminator_loss(loss, logits_real, logits_fake)
                if penalty:
                    d_loss = d_loss + penalty * gradient_penalty(discriminate, real, fakes, labels)
                if r1:
                    d_loss = d_loss + r1 * r1_penalty(discriminate, real, labels)
            optimizer_d.zero_grad(set_to_none=True)
            precision.backward(d_loss)
            precision.step(optimizer_d)
            precision.update()
        for parameter in discriminator_parameters:
            parameter.requires_grad_(False)
        g_labels = None if labels is None else random_labels(n, device)
        with precision.autocast():
            logits = precision.full(discriminate(networks.generate(codings[critic_steps], g_labels), g_labels))
            g_loss = generator_loss(loss, logits)
        optimizer_g.zero_grad(set_to_none=True)
        precision.backward(g_loss)
        precision.step(optimizer_g)
        precision.update()
        for parameter in discriminator_parameters:
            parameter.requires_grad_(True)
        if average is not None:
            average.update_parameters(model.generator)
        return torch.cat([logits_real, logits_fake]).detach(), logits.detach()

    return step
