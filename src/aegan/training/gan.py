"""The GAN training loop, written out as the chapter describes it.

For each batch of real images:
  phase 1: the discriminator sees as many fakes (from the generator, or from the replay pool)
           as reals, labelled 0 and 1, and takes one optimizer step;
  phase 2: the generator makes a new batch of fakes, labelled 1, and takes one step through the
           discriminator, whose weights are frozen (requires_grad off) for that phase.
Every epoch: D and G losses, D's accuracy on reals and fakes, a grid of images from fixed
codings (samples/epoch-NNNN.png) and a checkpoint; at the end an animated samples/progress.gif.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from aegan.data.batches import Batches
from aegan.plots import plot_image_grid, save_gif
from aegan.training.checkpoint import Checkpoints
from aegan.training.optimizers import build_optimizer
from aegan.training.replay import ReplayPool


def fixed_codings(model, seed: int) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, int]]:
    """Codings (and labels) for the per-epoch grids: 4 x 8 images, or 5 per class in columns."""
    generator = torch.Generator().manual_seed(seed + 1)
    classes = model.config.num_classes
    if classes:
        labels = torch.arange(classes).repeat(5)
        return torch.randn(len(labels), model.config.coding_size, generator=generator), labels, (5, classes)
    return torch.randn(32, model.config.coding_size, generator=generator), None, (4, 8)


def epoch_metrics(step_logits: list[tuple[torch.Tensor, torch.Tensor]]) -> dict:
    """D and G losses and D's accuracy on reals and on fakes, over the steps of an epoch (all on
    batches of the same size), from what each step returned: D's logits on [reals; fakes] and on
    phase 2's fakes. Computed once per epoch, so the steps spend no time on them."""
    d_logits = torch.stack([d for d, _ in step_logits]).double().flatten(1)
    g_logits = torch.cat([g for _, g in step_logits]).double()
    n = d_logits.shape[1] // 2
    real, fake = d_logits[:, :n], d_logits[:, n:]
    return {"d_loss": 0.5 * (F.softplus(-real).mean() + F.softplus(fake).mean()).item(),
            "g_loss": F.softplus(-g_logits).mean().item(),
            "d_accuracy_real": (real > 0).double().mean().item(), "d_accuracy_fake": (fake < 0).double().mean().item()}


@torch.no_grad()
def probe_outputs(model, codings: torch.Tensor, labels: torch.Tensor | None) -> dict[str, float]:
    """The generator's images of the fixed grid codings and the discriminator's logits on them, in
    evaluation mode and without touching the random generators: NaN there means the weights
    have blown up, finite or not."""
    device = codings.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        was_training = model.training
        model.eval()
        images = model.generate(codings, labels)
        logits = model.discriminate(images, labels)
        model.train(was_training)
    return {"the generator's output": images.abs().max().item(), "the discriminator's logits": logits.abs().max().item()}


GUESSING_LOSS = math.log(2)  # the loss of a discriminator that says 0.5 to everything


def check_losses(step_logits: list, training, epoch: int, step: int | None) -> None:
    """Stop a diverged GAN: a non-finite loss, or a discriminator loss past
    training.divergence_factor times a guessing discriminator's (it is confidently wrong)."""
    from aegan.training.autoencoder import check_finite, diverged

    if not step_logits:
        return
    losses = epoch_metrics(step_logits)
    check_finite(epoch, {"the discriminator's loss": losses["d_loss"], "the generator's loss": losses["g_loss"]},
                 training, step)
    if training.divergence_factor and losses["d_loss"] > training.divergence_factor * GUESSING_LOSS:
        raise diverged(epoch, step, "the discriminator's loss", losses["d_loss"], training.learning_rate,
                       GUESSING_LOSS, "a guessing discriminator's")


def check_health(model, codings, labels, step_logits: list, training, epoch: int, step: int | None) -> None:
    """Before a checkpoint: the recent steps' losses (see check_losses) and the model's outputs on
    the fixed grid codings must be sound."""
    from aegan.training.autoencoder import check_finite

    check_losses(step_logits[-CHECK_LAST:], training, epoch, step)
    check_finite(epoch, probe_outputs(model, codings, labels), training, step)


CHECK_LAST = 10  # steps whose losses a checkpoint's health check looks at


def make_gan_step(model, optimizer_d, optimizer_g, replay: ReplayPool, networks=None):
    """One two-phase step on a batch of reals; returns D's logits on [reals; fakes] (phase 1) and on
    the generator's fakes (phase 2), for `epoch_metrics`.

    `networks` (default: the model) provides generate() and discriminate(): training/fast_conv.py
    passes the same networks computed faster.
    """
    networks = model if networks is None else networks
    discriminator_parameters = list(model.discriminator.parameters())

    def step(real: torch.Tensor, labels: torch.Tensor | None):
        n = len(real)
        device = real.device
        # Phase 1: the discriminator, on reals (1) and as many fakes (0).
        fake_labels = None if labels is None else torch.randint(0, model.config.num_classes, (n,), device=device)
        codings = torch.randn(2 * n, model.config.coding_size, device=device)  # n per phase
        with torch.no_grad():
            fakes = networks.generate(codings[:n], fake_labels)
        fakes, fake_labels = replay(fakes, fake_labels)
        logits_real = networks.discriminate(real, labels)
        logits_fake = networks.discriminate(fakes, fake_labels)
        d_loss = 0.5 * (F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
                        + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake)))
        optimizer_d.zero_grad(set_to_none=True)
        d_loss.backward()
        optimizer_d.step()
        # Phase 2: the generator, through the frozen discriminator, with its fakes labelled 1.
        for parameter in discriminator_parameters:
            parameter.requires_grad_(False)
        g_labels = None if labels is None else torch.randint(0, model.config.num_classes, (n,), device=device)
        logits = networks.discriminate(networks.generate(codings[n:], g_labels), g_labels)
        g_loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        optimizer_g.zero_grad(set_to_none=True)
        g_loss.backward()
        optimizer_g.step()
        for parameter in discriminator_parameters:
            parameter.requires_grad_(True)
        return torch.cat([logits_real, logits_fake]).detach(), logits.detach()

    return step


def select_gan_step(model, training, optimizer_d, optimizer_g, replay: ReplayPool):
    """(step, name): training/fast_steps.py picks the fastest step that gives the same results."""
    from aegan.training.fast_steps import select_gan_step as select

    return select(model, training, optimizer_d, optimizer_g, replay)


def gan_optimizers(model, training) -> dict:
    """The discriminator's and the generator's optimizers, under the names checkpoints use."""
    return {name: build_optimizer(training.optimizer, network.parameters(), training.learning_rate, training.momentum)
            for name, network in (("optimizer_d", model.discriminator), ("optimizer_g", model.generator))}


def train_gan(model, config, images: Batches, run_dir: Path, shuffle: torch.Generator,
              progress: bool = True, log: Callable[[str], None] = print, start_epoch: int = 0,
              optimizers: dict | None = None, replay_generator: torch.Generator | None = None,
              position: dict | None = None, stop=None, replay_state: tuple | None = None) -> list[dict]:
    """Train from `start_epoch` to config.training.num_epochs on `images` (with their labels for a
    conditional GAN); `optimizers`, `replay_generator` and `replay_state` (ReplayPool.state() as
    a checkpoint holds it) carry a resumed run's state."""
    from aegan.training.autoencoder import CHECK_EVERY, record_step

    training = config.training
    optimizers = optimizers or gan_optimizers(model, training)
    optimizer_d, optimizer_g = optimizers["optimizer_d"], optimizers["optimizer_g"]
    replay_generator = replay_generator or torch.Generator().manual_seed(training.seed + 2)
    replay = ReplayPool(training.replay_pool_batches, training.replay_probability, replay_generator)
    step, step_name = select_gan_step(model, training, optimizer_d, optimizer_g, replay)
    log(f"training step: {step_name}")
    record_step(run_dir, step_name)
    conditional = bool(model.config.num_classes)
    device = next(model.parameters()).device
    grid_codings, grid_labels, grid_shape = fixed_codings(model, training.seed)
    grid_codings = grid_codings.to(device)
    grid_labels = None if grid_labels is None else grid_labels.to(device)
    board = None
    if training.tensorboard:  # imported only when asked for: it needs the tensorboard package
        from aegan.training.tensorboard import TensorBoardLog

        board = TensorBoardLog(run_dir, model, images, start_epoch, grid_codings, grid_labels, grid_shape)
    draws_images = len(model.config.input_shape) == 3
    if draws_images:
        (run_dir / "samples").mkdir(exist_ok=True)
    batch_size = training.batch_size
    steps_per_epoch = len(images) // batch_size  # whole batches only, as the seed's dataset does
    if replay_state:
        replay.load_state(*replay_state)
    checkpoints = Checkpoints(run_dir, model, optimizers, {"shuffle": shuffle, "replay": replay_generator}, training,
                              steps_per_epoch, stop, extra=replay.state,
                              health=lambda epoch, step: check_health(model, grid_codings, grid_labels, step_logits,
                                                                      training, epoch, step))
    history = []
    grids = [run_dir / "samples" / f"epoch-{epoch:04d}.png" for epoch in range(1, start_epoch + 1)]
    grids = [path for path in grids if path.is_file()]
    model.train()
    step_logits = []
    if start_epoch == 0 and not position:
        checkpoints.initial()
    for epoch in range(start_epoch + 1, training.num_epochs + 1):
        start = time.perf_counter()
        resumed = position if position and position["epoch"] == epoch else {}
        first = resumed.get("step", 0)
        permutation = resumed["permutation"] if resumed else torch.randperm(len(images), generator=shuffle)
        step_logits = list(zip(resumed["d_logits"], resumed["g_logits"])) if first else []

        def position_tensors():
            return {"permutation": permutation, "d_logits": torch.stack([d for d, _ in step_logits]),
                    "g_logits": torch.stack([g for _, g in step_logits])}

        with tqdm(total=steps_per_epoch, initial=first, desc=f"epoch {epoch}/{training.num_epochs}", leave=False,
                  disable=not progress, mininterval=0.5, unit="step") as bar:
            for index, (real, labels) in enumerate(images.epoch(permutation, batch_size, steps_per_epoch, first),
                                                   start=first):
                step_logits.append(step(model.to_training_range(real), labels if conditional else None))
                if (index + 1) % CHECK_EVERY == 0:
                    check_losses(step_logits[-CHECK_EVERY:], training, epoch, index + 1)
                bar.update()
                checkpoints.after_step(epoch, index + 1, position_tensors)
        record = {"epoch": epoch, **epoch_metrics(step_logits), "replayed_batches": replay.replayed,
                  "seconds": round(time.perf_counter() - start, 4)}
        seconds = record["seconds"]
        check_losses(step_logits, training, epoch, None)
        with open(run_dir / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(record, allow_nan=False) + "\n")
        if board is not None:
            board.epoch(epoch, record)
        if draws_images:
            model.eval()
            with torch.no_grad():
                grid = model.decode(grid_codings, grid_labels).cpu().numpy()
            model.train()
            grid = grid.reshape(*grid_shape, *grid.shape[1:])
            grids.append(plot_image_grid(grid, run_dir / "samples" / f"epoch-{epoch:04d}.png",
                                         title=f"{config.name}, epoch {epoch}"))
        checkpoints.epoch_end(epoch, record)
        history.append(record)
        log(f"epoch {epoch}/{training.num_epochs}  d_loss {record['d_loss']:.4f}  g_loss {record['g_loss']:.4f}  "
            f"D accuracy real {record['d_accuracy_real']:.3f} fake {record['d_accuracy_fake']:.3f}  {seconds:.2f} s")
    if grids:
        save_gif(grids, run_dir / "samples" / "progress.gif")
    if board is not None:
        board.finish(training.num_epochs)
        board.close()
    return history
