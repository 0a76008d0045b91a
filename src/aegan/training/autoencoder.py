"""The autoencoder training loop, written out: shuffle, step, validate, log, checkpoint."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from aegan.data.batches import Batches
from aegan.errors import TrainingDiverged
from aegan.files import atomic_write_json
from aegan.training.checkpoint import Checkpoints
from aegan.training.distributed import SINGLE
from aegan.training.precision import Precision
from aegan.training.precision import check as check_precision
from aegan.training.optimizers import build_optimizer, with_schedule


@torch.no_grad()
def evaluate_reconstruction(model, images: Batches | torch.Tensor, batch_size: int = 2500,
                            rounded: bool = True) -> dict[str, float]:
    """Mean loss and, with `rounded`, rounded accuracy (round(x) == round(x_hat)): data in [0, 1] only."""
    batches = images if isinstance(images, Batches) else Batches(images, None)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.float64, device=device)
    for x in batches.in_order(batch_size):
        loss_sum += model.loss_terms(x)["loss"].double() * len(x)
        if rounded:
            correct += (torch.round(model(x)).view_as(x) == torch.round(x)).double().mean(
                dim=tuple(range(1, x.dim()))).sum()
    model.train(was_training)
    result = {"loss": (loss_sum / len(batches)).item()}
    if rounded:
        result["rounded_accuracy"] = (correct / len(batches)).item()
    return result


def make_train_step(model, training, optimizer, precision=None) -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    """(a function that takes one optimisation step on a batch and returns its summed loss, its name).

    training/fast_steps.py chooses a hand-derived step where one applies (same results, faster);
    otherwise this plain autograd step.
    """
    from aegan.training.fast_steps import select_autoencoder_step

    from aegan.training.precision import FP32

    return select_autoencoder_step(model, training, optimizer, precision or FP32)


CHECK_EVERY = 100  # steps between checks that the running loss is finite (one host sync each)


def run_epoch(step, images: Batches | torch.Tensor, batch_size: int, shuffle: torch.Generator,
              bar=None, max_steps: int | None = None, epoch: int = 0,
              learning_rate: float | None = None, permutation: torch.Tensor | None = None, first_step: int = 0,
              loss_sum: torch.Tensor | None = None, after_step=None, parallel=None) -> torch.Tensor:
    """One pass over `images` in a fresh random order; the summed loss stays on the device.

    A resumed epoch passes its `permutation`, the steps already done (`first_step`) and their
    `loss_sum`. `after_step(steps_done, permutation, loss_sum)` runs after every step (checkpoints,
    stop requests). Every CHECK_EVERY steps the running sum is checked: a NaN or infinite loss
    raises TrainingDiverged naming the epoch and step, before anything more is written.
    `parallel` (training/distributed.py) gives this process its slice of each batch."""
    parallel = parallel or SINGLE
    batches = images if isinstance(images, Batches) else Batches(images, None, device=images.device)
    if permutation is None:
        permutation = torch.randperm(len(batches), generator=shuffle)
    num_steps = parallel.steps(len(batches), batch_size)
    num_steps = num_steps if max_steps is None else min(max_steps, num_steps)
    shard = None if parallel.single else parallel.shard
    for index, (x, _) in enumerate(batches.epoch(permutation, batch_size, num_steps, first_step, shard),
                                   start=first_step):
        with parallel.step(min(batch_size, len(batches) - index * batch_size)):
            total = step(x)
        loss_sum = total.double() if loss_sum is None else loss_sum + total
        if (index + 1) % CHECK_EVERY == 0 and not torch.isfinite(loss_sum):
            raise diverged(epoch, index + 1, "the running training loss", loss_sum.item(), learning_rate)
        if bar is not None:
            bar.update()
        if after_step is not None:
            after_step(index + 1, permutation, loss_sum)
    return loss_sum if loss_sum is not None else torch.zeros((), dtype=torch.float64)


def diverged(epoch: int, step: int | None, what: str, value: float, learning_rate: float | None = None,
             best: float | None = None, best_name: str = "its best") -> TrainingDiverged:
    """The one-line error of a diverged run."""
    where = f"epoch {epoch}" + (f", step {step}" if step else "")
    cause = f"{what} is {value:g}" if best is None else \
        f"{what} {value:.4g} rose past {value / best:.3g}x {best_name} ({best:.4g})"
    rate = f" (now {learning_rate:g})" if learning_rate is not None else ""
    return TrainingDiverged(f"training diverged in {where}: {cause}; the run keeps its last good checkpoint. "
                            f"Lower training.learning_rate{rate}")


def train_autoencoder(model, config, train_images: Batches | torch.Tensor, valid_images: Batches | torch.Tensor,
                      run_dir: Path, shuffle: torch.Generator, start_epoch: int = 0,
                      optimizer=None, progress: bool = True, rounded: bool = True,
                      log: Callable[[str], None] = print, position: dict | None = None, stop=None,
                      parallel=SINGLE, scaler_state: dict | None = None) -> list[dict]:
    """Train for config.training.num_epochs epochs, validating and checkpointing every epoch.

    Appends one JSON line per epoch to run_dir/metrics.jsonl and returns those records. With
    `parallel` (a torchrun job, training/distributed.py) this process trains on its slice of
    every batch, and only rank 0 writes. `scaler_state` is a resumed fp16 run's gradient scaler.
    """
    training = config.training
    if optimizer is None:
        optimizer = build_optimizer(training.optimizer, model.parameters(), training.learning_rate,
                                    training.momentum)
    device = next(model.parameters()).device
    precision = Precision(training.precision, device)
    precision.load_state(scaler_state)
    if parallel.single:
        step, step_name = make_train_step(model, training, optimizer, precision)
    else:
        from aegan.training.distributed import autoencoder_step

        step, step_name = autoencoder_step(model, optimizer, parallel, precision), "data_parallel"
    steps_per_epoch = parallel.steps(len(train_images), training.batch_size)
    if training.learning_rate_schedule != "constant":
        step = with_schedule(step, optimizer, training.learning_rate_schedule, training.learning_rate,
                             training.num_epochs * steps_per_epoch)
    log(f"training step: {step_name}")
    if (line := check_precision(training, device)) is not None:
        log(line)
    if parallel.main:
        record_step(run_dir, step_name)
    count = len(train_images)
    values_per_epoch = min(count, steps_per_epoch * training.batch_size) * math.prod(
        train_images.sample_shape if isinstance(train_images, Batches) else train_images.shape[1:])
    probe = next(iter(valid_images.in_order(64) if isinstance(valid_images, Batches) else [valid_images[:64]]))
    checkpoints = Checkpoints(run_dir, model, optimizer, {"shuffle": shuffle}, training, steps_per_epoch,
                              parallel.stop_requests(stop), write=parallel.main,
                              extra=(lambda: ({}, {"grad_scaler": precision.state()})) if precision.scaler else None,
                              health=lambda epoch, step: check_finite(epoch, probe_loss(model, probe), training, step))
    history = []
    best = min((record["loss"] for record in read_metrics(run_dir)), default=math.inf)  # a resumed run's best
    board = None
    if training.tensorboard and parallel.main:  # imported only when asked for: it needs the tensorboard package
        from aegan.training.tensorboard import TensorBoardLog

        board = TensorBoardLog(run_dir, model, valid_images, start_epoch)
    model.train()
    if start_epoch == 0 and not position:
        checkpoints.initial()
    for epoch in range(start_epoch + 1, training.num_epochs + 1):
        start_time = time.perf_counter()
        resumed = position if position and position["epoch"] == epoch else {}
        first = resumed.get("step", 0)
        if hasattr(step, "steps_done"):  # a learning-rate schedule counts the run's steps
            step.steps_done = (epoch - 1) * steps_per_epoch + first

        def after_step(steps_done, permutation, loss_sum, epoch=epoch):
            checkpoints.after_step(epoch, steps_done, lambda: {"permutation": permutation, "loss_sum": loss_sum})

        with tqdm(total=steps_per_epoch, initial=first, desc=f"epoch {epoch}/{training.num_epochs}", leave=False,
                  disable=not progress, mininterval=0.5, unit="step") as bar:
            loss_sum = run_epoch(step, train_images, training.batch_size, shuffle, bar, epoch=epoch,
                                 learning_rate=training.learning_rate, permutation=resumed.get("permutation"),
                                 first_step=first, loss_sum=resumed.get("loss_sum"), after_step=after_step,
                                 parallel=parallel)
            loss = loss_sum.item() / values_per_epoch
        seconds = time.perf_counter() - start_time
        validation = evaluate_reconstruction(model, valid_images, rounded=rounded)
        check_finite(epoch, {"loss": loss, "val_loss": validation["loss"]}, training)
        best = min(best, loss)
        if training.divergence_factor and loss > training.divergence_factor * best:
            raise diverged(epoch, None, "the training loss", loss, training.learning_rate, best)
        record = {"epoch": epoch, "loss": loss, "val_loss": validation["loss"]}
        if rounded:
            record["val_rounded_accuracy"] = validation["rounded_accuracy"]
        record["seconds"] = round(seconds, 4)
        if parallel.main:
            with open(run_dir / "metrics.jsonl", "a") as handle:
                handle.write(json.dumps(record, allow_nan=False) + "\n")
        if board is not None:
            board.epoch(epoch, record)
        checkpoints.epoch_end(epoch, record)
        history.append(record)
        accuracy = f"  val_rounded_accuracy {record['val_rounded_accuracy']:.4f}" if rounded else ""
        log(f"epoch {epoch}/{training.num_epochs}  loss {record['loss']:.4f}  "
            f"val_loss {record['val_loss']:.4f}{accuracy}  {seconds:.2f} s")
    if board is not None:
        board.finish(training.num_epochs)
        board.close()
    return history


@torch.no_grad()
def probe_loss(model, probe: torch.Tensor) -> dict[str, float]:
    """The loss on a fixed validation batch, in evaluation mode and without touching the random
    generators (so a run that checks it stays bit-identical to one that does not)."""
    device = probe.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        was_training = model.training
        model.eval()
        loss = model.loss_terms(probe)["loss"].item()
        model.train(was_training)
    return {"the loss on a validation batch": loss}


def read_metrics(run_dir: Path) -> list[dict]:
    """The records of run_dir/metrics.jsonl (none when it does not exist)."""
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def check_finite(epoch: int, values: dict[str, float], training, step: int | None = None) -> None:
    """Stop before a non-finite loss reaches the metrics or a checkpoint (the last good one stays)."""
    for name, value in values.items():
        if not math.isfinite(value):
            raise diverged(epoch, step, name, value, training.learning_rate)


def record_step(run_dir: Path, name: str) -> None:
    """Note in RUN/run.json which training step ran (a hand-derived fast step or autograd)."""
    path = run_dir / "run.json"
    info = json.loads(path.read_text()) if path.is_file() else {}
    info.setdefault("training_steps", [])
    if name not in info["training_steps"]:
        info["training_steps"].append(name)
    atomic_write_json(path, info)
