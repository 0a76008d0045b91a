"""The autoencoder training loop, written out: shuffle, step, validate, log, checkpoint."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from aegan.training import fast_conv, fast_dense, fast_vae
from aegan.training.checkpoint import save_checkpoint
from aegan.training.optimizers import build_optimizer


@torch.no_grad()
def evaluate_reconstruction(model, images: torch.Tensor, batch_size: int = 2500,
                            rounded: bool = True) -> dict[str, float]:
    """Mean loss and, with `rounded`, rounded accuracy (round(x) == round(x_hat)) on float inputs."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=images.device)
    correct = torch.zeros((), dtype=torch.float64, device=images.device)
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        loss_sum += model.loss_terms(x)["loss"].double() * len(x)
        if rounded:
            correct += (torch.round(model(x)).view_as(x) == torch.round(x)).double().mean(
                dim=tuple(range(1, x.dim()))).sum()
    model.train(was_training)
    result = {"loss": (loss_sum / len(images)).item()}
    if rounded:
        result["rounded_accuracy"] = (correct / len(images)).item()
    return result


def make_train_step(model, training, optimizer) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function that takes one optimisation step on a batch and returns its summed loss.

    With training.fast_path on, the hand-derived step of fast_dense is used where it applies
    (it updates the same parameters as the optimizer would, so checkpoints are the same), and
    fast_vae's for the dense VAE (RMSprop on the optimizer's own state), and fast_conv's step
    for the convolutional autoencoder (same math, the torch optimizer).
    """
    if training.fast_path and fast_dense.supports(model, training):
        fast_step = fast_dense.FastDenseSGD(model, training.learning_rate)
        return lambda x: fast_step(x.view(len(x), -1))
    if fast_vae.supports(model, training):
        return fast_vae.make_vae_step(model, optimizer)
    if fast_conv.supports_autoencoder(model, training):
        return fast_conv.make_autoencoder_step(model, optimizer)

    def step(x: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss_terms(x)["loss"]
        loss.backward()
        optimizer.step()
        return loss.detach() * x.numel()

    return step


def run_epoch(step, images: torch.Tensor, batch_size: int, shuffle: torch.Generator,
              bar=None, max_steps: int | None = None) -> torch.Tensor:
    """One pass over `images` in a fresh random order; the summed loss stays on the device."""
    permutation = torch.randperm(len(images), generator=shuffle).to(images.device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=images.device)
    num_steps = -(-len(images) // batch_size)
    for index in range(num_steps if max_steps is None else min(max_steps, num_steps)):
        loss_sum += step(images.index_select(0, permutation[index * batch_size:(index + 1) * batch_size]))
        if bar is not None:
            bar.update()
    return loss_sum


def train_autoencoder(model, config, train_images: torch.Tensor, valid_images: torch.Tensor,
                      run_dir: Path, shuffle: torch.Generator, start_epoch: int = 0,
                      optimizer=None, progress: bool = True, rounded: bool = True,
                      log: Callable[[str], None] = print) -> list[dict]:
    """Train for config.training.num_epochs epochs, validating and checkpointing every epoch.

    Appends one JSON line per epoch to run_dir/metrics.jsonl and returns those records.
    """
    training = config.training
    if optimizer is None:
        optimizer = build_optimizer(training.optimizer, model.parameters(), training.learning_rate,
                                    training.momentum)
    step = make_train_step(model, training, optimizer)
    steps_per_epoch = -(-len(train_images) // training.batch_size)
    history = []
    model.train()
    for epoch in range(start_epoch + 1, training.num_epochs + 1):
        start_time = time.perf_counter()
        with tqdm(total=steps_per_epoch, desc=f"epoch {epoch}/{training.num_epochs}", leave=False,
                  disable=not progress, mininterval=0.5, unit="step") as bar:
            loss_sum = run_epoch(step, train_images, training.batch_size, shuffle, bar)
            loss = loss_sum.item() / train_images.numel()
        seconds = time.perf_counter() - start_time
        validation = evaluate_reconstruction(model, valid_images, rounded=rounded)
        record = {"epoch": epoch, "loss": loss, "val_loss": validation["loss"]}
        if rounded:
            record["val_rounded_accuracy"] = validation["rounded_accuracy"]
        record["seconds"] = round(seconds, 4)
        with open(run_dir / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
        save_checkpoint(run_dir / "checkpoints", epoch, epoch * steps_per_epoch, model, optimizer,
                        {"shuffle": shuffle}, metrics=record)
        history.append(record)
        accuracy = f"  val_rounded_accuracy {record['val_rounded_accuracy']:.4f}" if rounded else ""
        log(f"epoch {epoch}/{training.num_epochs}  loss {record['loss']:.4f}  "
            f"val_loss {record['val_loss']:.4f}{accuracy}  {seconds:.2f} s")
    return history
