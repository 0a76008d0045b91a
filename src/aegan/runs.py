"""Run folders: everything a later command needs, in one place.

    RUN/config.json      the resolved config
    RUN/metrics.jsonl    one JSON line per epoch
    RUN/checkpoints/     safetensors + JSON, one pair per epoch (the newest two kept)
    RUN/test.json        the test-set evaluation, written at the end
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from aegan.config import RunConfig, config_from_dict
from aegan.errors import AeganError
from aegan.models import build_model
from aegan.training.checkpoint import load_checkpoint, restore

CONFIG_FILE = "config.json"


def is_run(path: Path) -> bool:
    return (Path(path) / CONFIG_FILE).is_file()


def prepare_run_dir(path: str | os.PathLike) -> Path:
    """Create an empty run folder, refusing one that holds anything and one we cannot write."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise AeganError(f"output folder {path} is a file: choose another --out")
    if path.is_dir() and any(path.iterdir()):
        what = "another run" if is_run(path) else "other files"
        raise AeganError(f"output folder {path} already holds {what}: choose another --out or remove it")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise AeganError(
            f"cannot write to output folder {path} ({error.strerror or error}): choose a writable --out"
        ) from None
    return path


def images_to_tensor(images, device=None) -> torch.Tensor:
    """uint8 images (0-255) or floats in [0, 1] as a float32 tensor in [0, 1]."""
    array = np.asarray(images)
    if not array.flags.writeable:  # e.g. IDX data read with np.frombuffer
        array = array.copy()
    tensor = torch.from_numpy(array)
    if tensor.dtype == torch.uint8:
        return tensor.to(device=device, dtype=torch.float32).div_(255.0)
    return tensor.to(device=device, dtype=torch.float32)


def _first(codings):
    """A VAE's encode gives (mean, log-variance): its codings are the means."""
    return codings[0] if isinstance(codings, tuple) else codings


class Run:
    """A trained run folder: its config, metrics and model (weights of the newest checkpoint)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not is_run(self.path):
            raise AeganError(
                f"{self.path} is not a run folder (no {CONFIG_FILE}): pass a folder written by `aegan train`"
            )
        try:
            self.config: RunConfig = config_from_dict(json.loads((self.path / CONFIG_FILE).read_text()))
        except json.JSONDecodeError as error:
            raise AeganError(f"{self.path / CONFIG_FILE} is damaged ({error})") from None
        self.model = build_model(self.config.model)
        tensors, self.checkpoint = load_checkpoint(self.path / "checkpoints")
        restore(tensors, self.checkpoint, self.model)
        self.model.eval()

    @property
    def epoch(self) -> int:
        return self.checkpoint["epoch"]

    def metrics(self) -> list[dict]:
        path = self.path / "metrics.jsonl"
        if not path.is_file():
            return []
        records = []
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a killed run
                continue
        return records

    def test_results(self) -> dict | None:
        path = self.path / "test.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def _batched(self, function, images, batch_size: int = 4096) -> np.ndarray:
        """function over batches, each converted to float on its own (no float copy of the whole set)."""
        array = np.asarray(images)
        with torch.no_grad():
            return torch.cat([function(images_to_tensor(array[i:i + batch_size]))
                              for i in range(0, len(array), batch_size)]).numpy()

    def _require_encoder(self, command: str) -> None:
        if not callable(getattr(self.model, "encode", None)):
            raise AeganError(f"{self.path} is a {self.config.model.kind} run, which has no encoder to {command} "
                             "with: use `aegan sample` or `aegan interpolate` on it instead")

    def encode(self, images) -> np.ndarray:
        """Codings (N, coding_size) of uint8 or [0, 1] float images (a VAE: the posterior means)."""
        self._require_encoder("encode")
        encode = self.model.encode
        return self._batched(lambda x: _first(encode(x)), images)

    def reconstruct(self, images) -> np.ndarray:
        """Reconstructions in [0, 1] of uint8 or [0, 1] float images."""
        self._require_encoder("reconstruct")
        return self._batched(self.model, images)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, preset={self.config.name!r}, epoch={self.epoch})"
