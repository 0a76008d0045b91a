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

import copy
import json
import time
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from aegan.data.batches import Batches
from aegan.plots import plot_image_grid, save_gif
from aegan.training.checkpoint import Checkpoints
from aegan.training.distributed import SINGLE
from aegan.training.precision import Precision
from aegan.training.precision import check as check_precision
from aegan.training.ema import generator_average, standing_statistics
from aegan.training.optimizers import build_optimizer
from aegan.training.gan_losses import discriminator_loss, generator_loss
from aegan.training.replay import ReplayPool


def fixed_codings(model, seed: int) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, int]]:
    """Codings (and labels) for the per-epoch grids: 4 x 8 images, or 5 per class in columns."""
    generator = torch.Generator().manual_seed(seed + 1)
    classes = model.config.num_classes
    if classes:
        labels = torch.arange(classes).repeat(5)
        return torch.randn(len(labels), model.config.coding_size, generator=generator), labels, (5, classes)
    return torch.randn(32, model.config.coding_size, generator=generator), None, (4, 8)


def epoch_metrics(step_logits: list[tuple[torch.Tensor, torch.Tensor]], loss: str = "bce") -> dict:
    """D and G losses (training.gan_loss, without penalties) and D's accuracy on reals and on
    fakes (logit > 0 means real), over the steps of an epoch (all on batches of the same size),
    from what each step returned: D's logits on [reals; fakes] and on phase 2's fakes. Computed
    once per epoch, so the steps spend no time on them."""
    d_logits = torch.stack([d for d, _ in step_logits]).double().flatten(1)
    g_logits = torch.cat([g for _, g in step_logits]).double()
    n = d_logits.shape[1] // 2
    real, fake = d_logits[:, :n], d_logits[:, n:]
    return {"d_loss": discriminator_loss(loss, real.flatten(), fake.flatten()).item(),
            "g_loss": generator_loss(loss, g_logits).item(),
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


def guessing_loss(loss: str) -> float:
    """The loss of a discriminator that says 'no idea' (logit 0) to everything: ln 2 for BCE, 2 for
    hinge, 0.5 for least squares, 0 for the Wasserstein critic (which has no such scale)."""
    zero = torch.zeros(1)
    return discriminator_loss(loss, zero, zero).item()


def check_losses(step_logits: list, training, epoch: int, step: int | None) -> None:
    """Stop a diverged GAN: a non-finite loss, or a discriminator loss past
    training.divergence_factor times a guessing discriminator's (it is confidently wrong)."""
    from aegan.training.autoencoder import check_finite, diverged

    if not step_logits:
        return
    losses = epoch_metrics(step_logits, training.gan_loss)
    check_finite(epoch, {"the discriminator's loss": losses["d_loss"], "the generator's loss": losses["g_loss"]},
                 training, step)
    guessing = guessing_loss(training.gan_loss)
    if training.divergence_factor and guessing > 0 and losses["d_loss"] > training.divergence_factor * guessing:
        raise diverged(epoch, step, "the discriminator's loss", losses["d_loss"], training.learning_rate,
                       guessing, "a guessing discriminator's")


def check_health(model, codings, labels, step_logits: list, training, epoch: int, step: int | None) -> None:
    """Before a checkpoint: the recent steps' losses (see check_losses) and the model's outputs on
    the fixed grid codings must be sound."""
    from aegan.training.autoencoder import check_finite

    check_losses(step_logits[-CHECK_LAST:], training, epoch, step)
    check_finite(epoch, probe_outputs(model, codings, labels), training, step)


CHECK_LAST = 10  # steps whose losses a checkpoint's health check looks at


def select_gan_step(model, training, optimizer_d, optimizer_g, replay: ReplayPool, average=None, precision=None):
    """(step, name): training/fast_steps.py picks the fastest step that gives the same results."""
    from aegan.training.fast_steps import select_gan_step as select
    from aegan.training.precision import FP32

    return select(model, training, optimizer_d, optimizer_g, replay, average, precision or FP32)


def gan_optimizers(model, training) -> dict:
    """The discriminator's and the generator's optimizers, under the names checkpoints use, each at
    its own learning rate when one is set (two time-scales, Heusel et al. 2017)."""
    rates = {"optimizer_d": training.discriminator_learning_rate or training.learning_rate,
             "optimizer_g": training.generator_learning_rate or training.learning_rate}
    return {name: build_optimizer(training.optimizer, network.parameters(), rates[name], training.momentum,
                                  training.betas)
            for name, network in (("optimizer_d", model.discriminator), ("optimizer_g", model.generator))}


def train_gan(model, config, images: Batches, run_dir: Path, shuffle: torch.Generator,
              progress: bool = True, log: Callable[[str], None] = print, start_epoch: int = 0,
              optimizers: dict | None = None, replay_generator: torch.Generator | None = None,
              position: dict | None = None, stop=None, extra_state: tuple | None = None,
              parallel=SINGLE) -> list[dict]:
    """Train from `start_epoch` to config.training.num_epochs on `images` (with their labels for a
    conditional GAN); `optimizers`, `replay_generator` and `extra_state` (a checkpoint's `extra.`
    tensors without the prefix, its JSON `extra` and the device: the replay pool, the generator's
    moving average) carry a resumed run's state. With `parallel` (a torchrun job,
    training/distributed.py) this process trains on its slice of every batch, and only rank 0 writes."""
    from aegan.training.autoencoder import CHECK_EVERY, record_step

    training = config.training
    optimizers = optimizers or gan_optimizers(model, training)
    optimizer_d, optimizer_g = optimizers["optimizer_d"], optimizers["optimizer_g"]
    replay_generator = replay_generator or torch.Generator().manual_seed(training.seed + 2)
    replay = ReplayPool(training.replay_pool_batches, training.replay_probability, replay_generator)
    average = generator_average(model.generator, training.ema_decay) if training.ema_decay else None
    if extra_state:
        replay.load_state(*extra_state)
        if average is not None:
            average.load_state_dict({k[len("ema."):]: v.to(extra_state[2]) for k, v in extra_state[0].items()
                                     if k.startswith("ema.")})
    device = next(model.parameters()).device
    precision = Precision(training.precision, device)
    if extra_state:
        precision.load_state(extra_state[1].get("grad_scaler"))
    if parallel.single:
        step, step_name = select_gan_step(model, training, optimizer_d, optimizer_g, replay, average, precision)
    else:
        from aegan.training.distributed import gan_step

        step, step_name = gan_step(model, training, optimizer_d, optimizer_g, replay, average, parallel,
                                   precision), "data_parallel"
    log(f"training step: {step_name}")
    if (line := check_precision(training, device)) is not None:
        log(line)
    if parallel.main:
        record_step(run_dir, step_name)
    conditional = bool(model.config.num_classes)
    grid_codings, grid_labels, grid_shape = fixed_codings(model, training.seed)
    grid_codings = grid_codings.to(device)
    grid_labels = None if grid_labels is None else grid_labels.to(device)
    board = None
    if training.tensorboard and parallel.main:  # imported only when asked for: it needs the tensorboard package
        from aegan.training.tensorboard import TensorBoardLog

        board = TensorBoardLog(run_dir, model, images, start_epoch, grid_codings, grid_labels, grid_shape)
    draws_images = len(model.config.input_shape) == 3 and parallel.main
    if draws_images:
        (run_dir / "samples").mkdir(exist_ok=True)
    batch_size = training.batch_size
    steps_per_epoch = len(images) // batch_size  # whole batches only, as the seed's dataset does

    def extra():
        tensors, state = replay.state()
        if average is not None:
            tensors.update({f"ema.{k}": v for k, v in average.state_dict().items()})
        if precision.scaler is not None:
            state = {**state, "grad_scaler": precision.state()}
        return tensors, state

    checkpoints = Checkpoints(run_dir, model, optimizers, {"shuffle": shuffle, "replay": replay_generator}, training,
                              steps_per_epoch, parallel.stop_requests(stop), extra=extra, write=parallel.main,
                              health=lambda epoch, step: check_health(model, grid_codings, grid_labels, step_logits,
                                                                      training, epoch, step))
    sampler = None if average is None else average.module  # the grids show the moving average when there is one
    history = []
    grids = [run_dir / "samples" / f"epoch-{epoch:04d}.png" for epoch in range(1, start_epoch + 1)]
    grids = [path for path in grids if path.is_file()]
    model.train()
    step_logits = []
    if start_epoch == 0 and not position:
        checkpoints.initial()
    deadline = time.monotonic() + 60 * training.time_limit_minutes if training.time_limit_minutes else None
    shard = None if parallel.single else parallel.shard
    advance = getattr(model, "after_training_step", None)

    def out_of_time() -> bool:  # agreed on by every process of a data-parallel job
        return bool(deadline) and bool(parallel.any(time.monotonic() > deadline))

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
            for index, (real, labels) in enumerate(images.epoch(permutation, batch_size, steps_per_epoch, first, shard),
                                                   start=first):
                with parallel.step(batch_size):
                    step_logits.append(step(model.to_training_range(real), labels if conditional else None))
                if advance is not None:  # a growing model's schedule (progan) counts the images trained on
                    advance(batch_size)
                if (index + 1) % CHECK_EVERY == 0:
                    check_losses(step_logits[-CHECK_EVERY:], training, epoch, index + 1)
                bar.update()
                checkpoints.after_step(epoch, index + 1, position_tensors)
                if out_of_time():  # training.time_limit_minutes: this epoch ends here
                    break
        record = {"epoch": epoch, **epoch_metrics(step_logits, training.gan_loss), "replayed_batches": replay.replayed,
                  "seconds": round(time.perf_counter() - start, 4)}
        stopping = out_of_time()
        if stopping and len(step_logits) < steps_per_epoch:
            record["steps"] = len(step_logits)  # a partial last epoch
        seconds = record["seconds"]
        check_losses(step_logits, training, epoch, None)
        if parallel.main:
            with open(run_dir / "metrics.jsonl", "a") as handle:
                handle.write(json.dumps(record, allow_nan=False) + "\n")
        if board is not None:
            board.epoch(epoch, record)
        if draws_images:
            model.eval()
            network = sampler
            if sampler is not None:  # the average, with batch-norm statistics of its own weights
                network = copy.deepcopy(sampler)
                standing_statistics(model, network, training.batch_size)
                network.eval()
            with torch.no_grad():
                grid = model.decode(grid_codings, grid_labels, generator=network).cpu().numpy()
            model.train()
            grid = grid.reshape(*grid_shape, *grid.shape[1:])
            grids.append(plot_image_grid(grid, run_dir / "samples" / f"epoch-{epoch:04d}.png",
                                         title=f"{config.name}, epoch {epoch}"))
        checkpoints.epoch_end(epoch, record)
        history.append(record)
        log(f"epoch {epoch}/{training.num_epochs}  d_loss {record['d_loss']:.4f}  g_loss {record['g_loss']:.4f}  "
            f"D accuracy real {record['d_accuracy_real']:.3f} fake {record['d_accuracy_fake']:.3f}  {seconds:.2f} s")
        if stopping:
            log(f"time limit of {training.time_limit_minutes:g} minutes reached in epoch {epoch} after "
                f"{len(step_logits)} of {steps_per_epoch} steps: training stops here")
            break
    if grids and parallel.main:
        save_gif(grids, run_dir / "samples" / "progress.gif")
    if board is not None:
        board.finish(training.num_epochs)
        board.close()
    return history
