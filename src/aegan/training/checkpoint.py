"""Checkpoints: safetensors tensors + a JSON state file, each written atomically; no pickle.

`checkpoints/epoch-0007.safetensors` holds the model weights (`model.*`), the optimizer's
tensors (`optimizer.<param index>.<name>`; a GAN's two optimizers under their own names)
and the random generators (`rng.*`).
`checkpoints/epoch-0007.json` is written after it, so a JSON file only ever names a complete
tensor file; it holds the epoch, step, optimizer hyper-parameters, metrics and the tensor
file's SHA-256. The newest checkpoint whose JSON and tensors agree is the one loaded.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from aegan.errors import AeganError
from aegan.files import atomic_write_bytes, atomic_write_json

FORMAT = "aegan-checkpoint/1"
KEEP = 2  # the newest checkpoint and the one before it


def _as_dict(optimizers) -> dict:
    """One optimizer is saved under the name 'optimizer'; a GAN's two under their own names."""
    if optimizers is None:
        return {}
    return optimizers if isinstance(optimizers, dict) else {"optimizer": optimizers}


def _optimizer_tensors(prefix: str, optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            tensors[f"{prefix}.{index}.{name}"] = (
                value if torch.is_tensor(value) else torch.tensor(value)
            ).detach().cpu().contiguous().clone()
    return tensors, {"param_groups": state["param_groups"]}


def save_checkpoint(folder: Path, epoch: int, step: int, model, optimizer=None,
                    generators: dict[str, torch.Generator] | None = None,
                    metrics: dict | None = None, position: dict | None = None,
                    position_tensors: dict[str, torch.Tensor] | None = None, keep: int = KEEP,
                    extra_tensors: dict[str, torch.Tensor] | None = None, extra_state: dict | None = None) -> Path:
    """Write a checkpoint: at an epoch's end (`epoch` epochs done) or, with `position`
    ({"epoch": the epoch in progress, "step": its steps done}) and `position_tensors` (what the
    loop needs to go on: the epoch's permutation, its partial sums), in the middle of one.
    `extra_tensors` and `extra_state` hold what else the loop carries (saved under `extra.`)."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    tensors.update({f"extra.{k}": v.detach().cpu().contiguous().clone() for k, v in (extra_tensors or {}).items()})
    checked = {**tensors, **{f"position.{k}": v for k, v in (position_tensors or {}).items()}}
    bad = [k for k, v in checked.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:  # no NaN ever reaches a checkpoint: the last good one stays the newest
        from aegan.errors import TrainingDiverged

        where = f"epoch {position['epoch']}, step {position['step']}" if position else f"epoch {epoch}"
        raise TrainingDiverged(f"training diverged in {where}: {bad[0].split('.', 1)[1]} holds NaN or infinite values; the run "
                               "keeps its last good checkpoint. Lower training.learning_rate")
    state = {"format": FORMAT, "epoch": epoch, "step": step, "metrics": metrics or {}}
    if extra_state:
        state["extra"] = extra_state
    if position:
        state["position"] = position
        tensors.update({f"position.{k}": v.detach().cpu().contiguous().clone() for k, v in position_tensors.items()})
    for prefix, optimizer in _as_dict(optimizer).items():
        optimizer_tensors, state[prefix] = _optimizer_tensors(prefix, optimizer)
        tensors.update(optimizer_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    for name, generator in (generators or {}).items():
        tensors[f"rng.{name}"] = generator.get_state()
    data = save_tensors(tensors)
    # A mid-epoch checkpoint of epoch e sorts after epoch e-1's end and before epoch e's end.
    stem = f"epoch-{epoch:04d}" if not position else f"epoch-{position['epoch']:04d}-step-{position['step']:07d}"
    atomic_write_bytes(folder / f"{stem}.safetensors", data)
    state["tensors_file"] = f"{stem}.safetensors"
    state["sha256"] = hashlib.sha256(data).hexdigest()
    path = atomic_write_json(folder / f"{stem}.json", state)
    for old in sorted(folder.glob("epoch-*.json"))[:-keep]:
        old.unlink(missing_ok=True)
        (folder / f"{old.stem}.safetensors").unlink(missing_ok=True)
    return path


def load_checkpoint(folder: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, state) of the newest complete checkpoint in `folder`; a damaged newer one is
    passed over with a warning."""
    if not folder.is_dir():
        raise AeganError(f"{folder} does not exist: the run has no checkpoints; train it (`aegan train`)")
    for json_path in sorted(folder.glob("epoch-*.json"), reverse=True):
        try:
            state = json.loads(json_path.read_text())
            data = (folder / state["tensors_file"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != state.get("sha256"):
                raise ValueError("its tensors do not match their checksum")
            tensors = load_tensors(data)
        except (OSError, ValueError, KeyError, TypeError, SafetensorError) as error:
            print(f"aegan: warning: checkpoint {json_path} is damaged or incomplete ({error}); "
                  "trying the one before it", file=sys.stderr)
            continue
        return tensors, state
    raise AeganError(f"{folder} holds no complete checkpoint: train the run first (`aegan train`)")


def restore(tensors: dict[str, torch.Tensor], state: dict, model, optimizer=None,
            generators: dict[str, torch.Generator] | None = None,
            learning_rate: float | dict[str, float] | None = None) -> None:
    """Load model weights, and optionally optimizer and generator states, from a checkpoint;
    `learning_rate` (one, or one per optimizer name) replaces the saved one (a run resumed with
    a lower rate after diverging)."""
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    for prefix, optimizer in _as_dict(optimizer).items():
        per_param: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith(prefix + "."):
                _, index, name = key.split(".", 2)
                per_param.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": per_param, "param_groups": state[prefix]["param_groups"]})
        rate = learning_rate.get(prefix) if isinstance(learning_rate, dict) else learning_rate
        if rate is not None:
            for group in optimizer.param_groups:
                group["lr"] = rate
    if generators is not None:  # resuming training; loading a run for use leaves the global generator alone
        torch.set_rng_state(tensors["rng.torch"])
    for name, generator in (generators or {}).items():
        generator.set_state(tensors[f"rng.{name}"])


class Checkpoints:
    """When a training loop writes checkpoints: at the start of a run (epoch 0, the initial
    weights), at every epoch's end, every training.checkpoint_every_steps steps within an epoch,
    and at once when a stop is requested (SIGINT or SIGTERM, see training/interrupt.py), after
    which it raises TrainingInterrupted.

    Before each write, `health(epoch, step)` (when given) measures the model on a fixed probe,
    for example the loss on a validation batch, and raises TrainingDiverged when it is not
    finite or far off: weights that are finite but already blown up fail there, and the run
    stops instead of writing them, so the newest checkpoint always samples and reconstructs. `extra()` gives tensors and JSON state the loop
    keeps beside the model (a GAN's replay pool)."""

    def __init__(self, run_dir: Path, model, optimizers, generators: dict, training, steps_per_epoch: int,
                 stop=None, health=None, extra=None, write: bool = True):
        self.folder = Path(run_dir) / "checkpoints"
        self.run_dir = Path(run_dir)
        self.model, self.optimizers, self.generators = model, optimizers, generators
        self.every, self.keep = training.checkpoint_every_steps, training.keep_checkpoints
        self.learning_rate = training.learning_rate
        self.steps_per_epoch, self.stop = steps_per_epoch, stop
        self.health, self.extra = health, extra
        self.write = write  # False on the processes of a data-parallel job other than rank 0

    def _save(self, epoch: int, step: int, where: tuple[int, int | None], **kwargs) -> Path | None:
        if self.health is not None:
            self.health(*where)
        if not self.write:
            return None
        tensors, state = self.extra() if self.extra is not None else ({}, {})
        return save_checkpoint(self.folder, epoch, step, self.model, self.optimizers, self.generators,
                               keep=self.keep, extra_tensors=tensors, extra_state=state, **kwargs)

    def initial(self) -> Path | None:
        """The untrained (or greedily pretrained) weights, as epoch 0: a run that diverges in its
        first epoch still has a checkpoint to resume from with a lower learning rate."""
        return self._save(0, 0, (1, None), metrics={})

    def epoch_end(self, epoch: int, metrics: dict) -> Path | None:
        return self._save(epoch, epoch * self.steps_per_epoch, (epoch, None), metrics=metrics)

    def after_step(self, epoch: int, steps_done: int, position_tensors) -> None:
        """Called after each step of `epoch`; `position_tensors()` gives what resuming needs."""
        stopping = self.stop is not None and self.stop.requested
        due = self.every and steps_done % self.every == 0 and steps_done < self.steps_per_epoch
        if not (stopping or due):
            return
        if steps_done < self.steps_per_epoch:
            self._save(epoch - 1, (epoch - 1) * self.steps_per_epoch + steps_done, (epoch, steps_done),
                       position={"epoch": epoch, "step": steps_done}, position_tensors=position_tensors())
        if stopping:
            from aegan.errors import TrainingInterrupted

            raise TrainingInterrupted(
                f"stopped by {self.stop.name} in epoch {epoch} after step {steps_done}; a checkpoint is written: "
                f"continue with `aegan train --resume {self.run_dir}`", signal_number=self.stop.requested)
