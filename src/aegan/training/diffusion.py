"""The diffusion training loop, written out: for each batch of images, draw a time step and noise per
image, take one optimizer step on the denoising loss (models/ddpm.py) and update the moving average
of the denoiser (`training.ema_decay`), which the grids and later samples use.

Every epoch: the mean loss, a grid of DDIM samples from fixed noise (samples/epoch-NNNN.png) and a
checkpoint; `training.time_limit_minutes` ends training after the step that passes it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from aegan.data.batches import Batches
from aegan.plots import plot_image_grid, save_gif
from aegan.training.checkpoint import Checkpoints
from aegan.training.compiled import compiled
from aegan.training.ema import generator_average
from aegan.training.precision import Precision
from aegan.training.precision import check as check_precision

GRID_SEED_OFFSET = 1  # the grids' noise comes from training.seed + this


def grid_inputs(model, seed: int) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, int]]:
    """Fixed noise (and labels) for the per-epoch grids: 4 x 8 images, or 5 per class in columns."""
    generator = torch.Generator().manual_seed(seed + GRID_SEED_OFFSET)
    classes = model.config.num_classes
    labels = torch.arange(classes).repeat(5) if classes else None
    count = len(labels) if classes else 32
    noise = torch.randn((count, *model.config.input_shape), generator=generator)
    return noise, labels, ((5, classes) if classes else (4, 8))


def epoch_grid(model, sampler, noise: torch.Tensor, labels: torch.Tensor | None, grid_shape: tuple[int, int],
               path: Path, title: str) -> Path:
    """The grid of DDIM samples from the fixed noise (and labels), by `sampler` (the denoiser's average)."""
    model.eval()
    sampler.eval()
    grid = model.from_training_range(model.ddim(noise, labels=labels, denoiser=sampler)).cpu()
    model.train()
    grid = grid.reshape(*grid_shape, *grid.shape[1:]).numpy()
    if not model.unit_range:  # standardised data: each grid spread over [0, 1] to be seen
        grid = (grid - grid.min()) / max(float(grid.max() - grid.min()), 1e-12)
    return plot_image_grid(grid, path, title=title)


def make_step(model, optimizer, precision: Precision, average=None, training=None) -> Callable:
    """One optimizer step on a batch (images in the data's model scale, labels or None); returns the
    loss, on the device (no host synchronisation). With training.compile, loss_terms is compiled."""
    loss_terms = compiled(model.loss_terms, training)

    def step(x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            loss = loss_terms(x, labels)["loss"]
        precision.backward(loss)
        precision.step(optimizer)
        precision.update()
        if average is not None:
            average.update_parameters(model.denoiser)
        return loss.detach()

    return step


def train_diffusion(model, config, images: Batches, run_dir: Path, shuffle: torch.Generator, optimizer,
                    progress: bool = True, log: Callable[[str], None] = print, start_epoch: int = 0,
                    position: dict | None = None, stop=None, extra_state: tuple | None = None) -> list[dict]:
    """Train from `start_epoch` to config.training.num_epochs on `images` (with their labels for a
    conditional model); `extra_state` (a checkpoint's `extra.` tensors without the prefix, its JSON
    `extra` and the device) carries a resumed run's moving average and gradient scaler."""
    from aegan.training.autoencoder import CHECK_EVERY, check_finite, record_step

    training = config.training
    device = next(model.parameters()).device
    average = generator_average(model.denoiser, training.ema_decay) if training.ema_decay else None
    precision = Precision(training.precision, device)
    if extra_state:
        if average is not None:
            average.load_state_dict({k[len("ema."):]: v.to(extra_state[2]) for k, v in extra_state[0].items()
                                     if k.startswith("ema.")})
        precision.load_state(extra_state[1].get("grad_scaler"))
    step = make_step(model, optimizer, precision, average, config.training)
    step_name = "compiled" if training.compile else "autograd"
    log(f"training step: {step_name}")
    if (line := check_precision(training, device)) is not None:
        log(line)
    record_step(run_dir, step_name)
    conditional = bool(model.config.num_classes)
    noise, labels, grid_shape = grid_inputs(model, training.seed)
    noise = noise.to(device)
    labels = None if labels is None else labels.to(device)
    first_images = torch.arange(min(64, len(images)))
    probe_x = images.take(first_images)
    probe_labels = images.labels_of(first_images) if conditional else None
    (run_dir / "samples").mkdir(exist_ok=True)
    batch_size = training.batch_size
    steps_per_epoch = len(images) // batch_size  # whole batches only, as for GANs

    def extra():
        tensors = {} if average is None else {f"ema.{k}": v for k, v in average.state_dict().items()}
        return tensors, ({"grad_scaler": precision.state()} if precision.scaler is not None else {})

    def health(epoch: int, step_index: int | None) -> None:  # the loss on a fixed batch, with fixed draws
        with torch.no_grad():
            was_training = model.training
            model.eval()
            loss = model.loss_terms(probe_x, probe_labels, generator=torch.Generator().manual_seed(0))["loss"]
            model.train(was_training)
        check_finite(epoch, {"the loss on a training batch": loss.item()}, training, step_index)

    checkpoints = Checkpoints(run_dir, model, optimizer, {"shuffle": shuffle}, training, steps_per_epoch, stop,
                              health=health, extra=extra)
    sampler = model.denoiser if average is None else average.module
    grids = [run_dir / "samples" / f"epoch-{epoch:04d}.png" for epoch in range(1, start_epoch + 1)]
    grids = [path for path in grids if path.is_file()]
    history = []
    model.train()
    if start_epoch == 0 and not position:
        checkpoints.initial()
    deadline = time.monotonic() + 60 * training.time_limit_minutes if training.time_limit_minutes else None
    for epoch in range(start_epoch + 1, training.num_epochs + 1):
        start = time.perf_counter()
        resumed = position if position and position["epoch"] == epoch else {}
        first = resumed.get("step", 0)
        permutation = resumed["permutation"] if resumed else torch.randperm(len(images), generator=shuffle)
        loss_sum = resumed["loss_sum"] if resumed else torch.zeros((), dtype=torch.float64, device=device)
        steps_done = first
        with tqdm(total=steps_per_epoch, initial=first, desc=f"epoch {epoch}/{training.num_epochs}", leave=False,
                  disable=not progress, mininterval=0.5, unit="step") as bar:
            for index, (x, batch_labels) in enumerate(images.epoch(permutation, batch_size, steps_per_epoch, first),
                                                      start=first):
                loss_sum = loss_sum + step(x, batch_labels if conditional else None).double()
                steps_done = index + 1
                if steps_done % CHECK_EVERY == 0:
                    check_finite(epoch, {"the running training loss": loss_sum.item()}, training, steps_done)
                bar.update()
                checkpoints.after_step(epoch, steps_done, lambda: {"permutation": permutation, "loss_sum": loss_sum})
                if deadline and time.monotonic() > deadline:
                    break
        seconds = time.perf_counter() - start
        record = {"epoch": epoch, "loss": loss_sum.item() / max(steps_done, 1), "seconds": round(seconds, 4)}
        stopping = bool(deadline) and time.monotonic() > deadline
        if stopping and steps_done < steps_per_epoch:
            record["steps"] = steps_done  # a partial last epoch
        check_finite(epoch, {"the training loss": record["loss"]}, training)
        with open(run_dir / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(record, allow_nan=False) + "\n")
        grids.append(epoch_grid(model, sampler, noise, labels, grid_shape,
                                run_dir / "samples" / f"epoch-{epoch:04d}.png",
                                f"{config.name}, epoch {epoch} (DDIM, {model.config.sample_steps} steps)"))
        checkpoints.epoch_end(epoch, record)
        history.append(record)
        log(f"epoch {epoch}/{training.num_epochs}  loss {record['loss']:.4f}  {seconds:.2f} s")
        if stopping:
            log(f"time limit of {training.time_limit_minutes:g} minutes reached in epoch {epoch} after "
                f"{steps_done} of {steps_per_epoch} steps: training stops here")
            break
    if grids:
        save_gif(grids, run_dir / "samples" / "progress.gif")
    return history
