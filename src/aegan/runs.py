"""Run folders: everything a later command needs, in one place.

    RUN/config.json      the resolved config (the model's input shape, loss and classes included)
    RUN/data_spec.json   the data's description: sample shape, scaling (and its statistics), classes
    RUN/run.json         where and how it ran: device, threads, streamed or not, the training step taken
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
from aegan.data.spec import DataSpec
from aegan.errors import AeganError
from aegan.models import build_model
from aegan.training.checkpoint import load_checkpoint, restore

CONFIG_FILE = "config.json"
SPEC_FILE = "data_spec.json"


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


def read_spec(path: Path) -> DataSpec:
    file = Path(path) / SPEC_FILE
    if not file.is_file():
        raise AeganError(f"{path} has no {SPEC_FILE} (a run folder from an older aegan): train it again")
    try:
        return DataSpec.from_dict(json.loads(file.read_text()))
    except (json.JSONDecodeError, TypeError) as error:
        raise AeganError(f"{file} is damaged ({error}): train the run again") from None


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
        self.spec: DataSpec = read_spec(self.path)
        self.model = build_model(self.config.model)
        tensors, self.checkpoint = load_checkpoint(self.path / "checkpoints")
        try:
            restore(tensors, self.checkpoint, self.model)
            average = {k[len("extra.ema.module."):]: v for k, v in tensors.items() if k.startswith("extra.ema.module.")}
            if average:  # a run trained with training.ema_decay samples from its moving average
                name = getattr(type(self.model), "averaged_network", "generator")
                getattr(self.model, name).load_state_dict(average)
                if name == "generator":  # a GAN's: batch-norm statistics of the averaged weights (training/ema.py)
                    from aegan.training.ema import standing_statistics

                    standing_statistics(self.model, self.model.generator, self.config.training.batch_size)
        except RuntimeError as error:  # load_state_dict: the weights are not of this config's model
            first = str(error).strip().splitlines()[0]
            raise AeganError(f"{self.path}: the checkpoint's weights do not fit the model that {CONFIG_FILE} "
                             f"describes ({first}): restore the run's own {CONFIG_FILE}") from None
        self.model.eval()

    def can(self, capability: str) -> bool:
        """Whether this run's model family can `capability` (encode, reconstruct, sample, interpolate, score)."""
        return capability in type(self.model).capabilities

    def splits(self):
        """The run's data, read again as it was for training (needs the data where it was)."""
        from aegan.data.sources import load_splits

        splits = load_splits(self.config.data, self.config.training.seed)
        self.spec.check_compatible(splits.spec, f"data of {self.path}")
        return splits

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

    def to_model(self, samples) -> torch.Tensor:
        """Samples as stored (uint8, or floats in the data's units; images of uint8 data may also be
        floats already in [0, 1]) in the model's scale."""
        tensor = samples if torch.is_tensor(samples) else torch.from_numpy(np.ascontiguousarray(samples))
        if self.spec.scaling == "divide_255" and tensor.dtype != torch.uint8:
            return tensor.to(torch.float32)  # already in [0, 1]
        return self.spec.to_model(tensor)

    def _check_shape(self, samples):
        """`samples` of the run's sample shape; grayscale images may come without their channel axis."""
        shape = tuple(np.shape(samples)[1:])
        if self.spec.is_image and self.spec.channels == 1 and shape == tuple(self.spec.shape[1:]):
            return samples[:, None]
        if shape != tuple(self.spec.shape):
            raise AeganError(f"samples of shape {list(shape)} given to {self.path}, which was trained on "
                             f"{self.spec.describe()}: give samples of shape {list(self.spec.shape)}")
        return samples

    def _batched(self, function, samples, batch_size: int = 4096) -> np.ndarray:
        """function over batches, each converted on its own (no float copy of the whole set)."""
        samples = self._check_shape(samples)
        with torch.no_grad():
            return torch.cat([function(self.to_model(samples[i:i + batch_size]))
                              for i in range(0, len(samples), batch_size)]).numpy()

    def _require(self, capability: str, command: str) -> None:
        if not self.can(capability):
            able = sorted(type(self.model).capabilities)
            commands = " or ".join(f"`aegan {name}`" for name in able)
            if "encode" not in able and "no encoder" not in command:
                command += " (it has no encoder)"
            raise AeganError(f"{self.path} is a {self.config.model.kind} run, which cannot {command}: "
                             f"use {commands} on it instead")

    def _require_encoder(self, command: str) -> None:
        self._require("encode", command)

    def encode(self, samples) -> np.ndarray:
        """Codings (N, coding_size) of samples as stored (a VAE: the posterior means)."""
        self._require_encoder("encode")
        encode = self.model.encode
        return self._batched(lambda x: _first(encode(x)).flatten(1), samples)

    def reconstruct(self, samples) -> np.ndarray:
        """Reconstructions in the data's own units (images of uint8 data: in [0, 1])."""
        self._require("reconstruct", "reconstruct")
        return self._batched(lambda x: self.spec.from_model(self.model(x)), samples)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, preset={self.config.name!r}, epoch={self.epoch})"
