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
from pathlib import Path

import torch
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
                    metrics: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    state = {"format": FORMAT, "epoch": epoch, "step": step, "metrics": metrics or {}}
    for prefix, optimizer in _as_dict(optimizer).items():
        optimizer_tensors, state[prefix] = _optimizer_tensors(prefix, optimizer)
        tensors.update(optimizer_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    for name, generator in (generators or {}).items():
        tensors[f"rng.{name}"] = generator.get_state()
    data = save_tensors(tensors)
    stem = f"epoch-{epoch:04d}"
    atomic_write_bytes(folder / f"{stem}.safetensors", data)
    state["tensors_file"] = f"{stem}.safetensors"
    state["sha256"] = hashlib.sha256(data).hexdigest()
    path = atomic_write_json(folder / f"{stem}.json", state)
    for old in sorted(folder.glob("epoch-*.json"))[:-KEEP]:
        old.unlink(missing_ok=True)
        (folder / f"{old.stem}.safetensors").unlink(missing_ok=True)
    return path


def load_checkpoint(folder: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, state) of the newest complete checkpoint in `folder`."""
    for json_path in sorted(folder.glob("epoch-*.json"), reverse=True):
        try:
            state = json.loads(json_path.read_text())
            data = (folder / state["tensors_file"]).read_bytes()
        except (OSError, ValueError, KeyError):
            continue
        if hashlib.sha256(data).hexdigest() == state.get("sha256"):
            return load_tensors(data), state
    raise AeganError(f"{folder} holds no complete checkpoint: train the run first (`aegan train`)")


def restore(tensors: dict[str, torch.Tensor], state: dict, model, optimizer=None,
            generators: dict[str, torch.Generator] | None = None) -> None:
    """Load model weights, and optionally optimizer and generator states, from a checkpoint."""
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    for prefix, optimizer in _as_dict(optimizer).items():
        per_param: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith(prefix + "."):
                _, index, name = key.split(".", 2)
                per_param.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": per_param, "param_groups": state[prefix]["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    for name, generator in (generators or {}).items():
        generator.set_state(tensors[f"rng.{name}"])
