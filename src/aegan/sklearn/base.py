"""What the scikit-learn estimators share: checking parameters, describing X, training, pickling.

An estimator turns its parameters into the library's own config (`aegan.config.load_config`
with dotted-key overrides), describes X with a `DataSpec` (the CLI's scaling rules), builds the
model from the registry (`aegan.models`) and trains it with the family's loop from
`aegan.training` in a temporary run folder. The trained module stays in memory as `model_`;
a pickled estimator carries its weights as safetensors bytes and its config as JSON, never a
pickled torch module.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
import os
import sys
import tempfile
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from aegan.config import OPTIMIZERS, DataConfig, config_from_dict, load_config, read_toml, valid_keys
from aegan.data.source import SourceData
from aegan.data.sources import describe
from aegan.data.spec import DataSpec
from aegan.errors import AeganError, TrainingDiverged, closest
from aegan.models import FAMILIES, build_model

SCALINGS = ("auto", "standardize", "none")
DEVICES = ("cpu", "cuda", "auto")
SEED_LIMIT = 2**32 - 1  # what numpy's RandomState takes; torch takes any of them
INFERENCE_BATCH = 4096

# Config keys that have a parameter of their own (overrides naming them are refused).
PARAMETER_OF_KEY = {"training.num_epochs": "epochs", "training.batch_size": "batch_size",
                    "training.learning_rate": "learning_rate", "training.optimizer": "optimizer",
                    "training.seed": "random_state", "training.device": "device",
                    "model.coding_size": "coding_size", "model.input_shape": "input_shape"}


def _positive_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def seed_of(random_state) -> int:
    """A seed for torch from a scikit-learn random_state (None: a fresh one, drawn from numpy's global generator)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if not 0 <= random_state <= SEED_LIMIT:
            raise AeganError(f"random_state={random_state}: expected a whole number from 0 to {SEED_LIMIT}, "
                             "a numpy RandomState or None")
        return int(random_state)
    try:
        return int(check_random_state(random_state).randint(0, 2**31 - 1))
    except ValueError:
        raise AeganError(f"random_state={random_state!r}: expected a whole number from 0 to {SEED_LIMIT}, "
                         "a numpy RandomState or None") from None


def check_sample_count(name: str, n_samples) -> int:
    """n_samples of `sample`, checked: a whole number, 1 or more."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise AeganError(f"{name}.sample(n_samples={n_samples!r}): expected a whole number of samples, 1 or more")
    return int(n_samples)


@contextmanager
def _seeded(seed: int, device: torch.device):
    """torch's global generators seeded with `seed` inside, and given back as they were after:
    the models' initialisation and noise draw from them, and fit must not change the caller's."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextmanager
def _threads(num_threads: int):
    """torch's intra-op threads set to training.num_threads while fitting, one when it is 0:
    the small models these estimators train are bound by per-operation overhead, where one
    thread is fastest, and GridSearchCV(n_jobs=...) already runs fits side by side."""
    before = torch.get_num_threads()
    torch.set_num_threads(num_threads or 1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class AeganEstimator(BaseEstimator):
    """The machinery of every aegan estimator; subclasses set what their model must be able to do.

    Subclasses define `__init__` with their parameters (scikit-learn reads them from its
    signature), `required_capabilities` and `required_loop` (what the preset's model family
    must declare), `what_it_needs` (for messages) and, for another loop, `_train`.
    """

    required_capabilities: frozenset = frozenset()
    required_loop = "autoencoder"
    what_it_needs = "an autoencoder preset"

    # --- checking parameters (all in fit, never in __init__) ----------------------------------------
    def _name(self) -> str:
        return type(self).__name__

    def _check_parameters(self, n_features: int) -> tuple[int, ...]:
        """Check the parameters; return the sample shape of one row of X."""
        name = self._name()
        if not isinstance(self.preset, (str, os.PathLike)) or not str(self.preset):
            raise AeganError(f"{name}(preset={self.preset!r}): expected a preset name such as "
                             f"{self._default_preset()!r} or the path of a TOML config file")
        if not _positive_integer(self.epochs):
            raise AeganError(f"{name}(epochs={self.epochs!r}): expected a whole number of epochs, 1 or more")
        for parameter in ("batch_size", "coding_size"):
            value = getattr(self, parameter)
            if value is not None and not _positive_integer(value):
                raise AeganError(f"{name}({parameter}={value!r}): expected a whole number, 1 or more, "
                                 "or None for the preset's")
        rate = self.learning_rate
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, numbers.Real)
                                 or not math.isfinite(rate) or rate <= 0):
            raise AeganError(f"{name}(learning_rate={rate!r}): expected a positive number such as 0.001, "
                             "or None for the preset's")
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise AeganError(f"{name}(optimizer={self.optimizer!r}): expected one of {', '.join(OPTIMIZERS)}"
                             f"{closest(self.optimizer, OPTIMIZERS)}, or None for the preset's")
        if self.scaling not in SCALINGS:
            raise AeganError(f"{name}(scaling={self.scaling!r}): expected one of {', '.join(SCALINGS)}"
                             f"{closest(self.scaling, SCALINGS)}")
        if self.device not in DEVICES:
            raise AeganError(f"{name}(device={self.device!r}): expected one of {', '.join(DEVICES)}"
                             f"{closest(self.device, DEVICES)}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise AeganError(f"{name}(device='cuda'): no CUDA GPU is visible; use device='cpu' or 'auto'")
        if not isinstance(self.verbose, numbers.Integral) or self.verbose < 0:
            raise AeganError(f"{name}(verbose={self.verbose!r}): expected 0 (silent), 1 (a line per epoch) "
                             "or 2 (also progress bars)")
        return self._sample_shape(n_features)

    def _default_preset(self) -> str:
        return type(self)().preset

    def _sample_shape(self, n_features: int) -> tuple[int, ...]:
        """(n_features,) for a table, or input_shape: rows of X are samples of that shape, flattened."""
        shape = self.input_shape
        if shape is None:
            return (n_features,)
        if (not isinstance(shape, (tuple, list)) or not 1 <= len(shape) <= 3
                or not all(_positive_integer(size) for size in shape)):
            raise AeganError(f"{self._name()}(input_shape={shape!r}): expected None (rows are tables), "
                             "(time_steps, features) for sequences or (channels, height, width) for images")
        if math.prod(shape) != n_features:
            raise AeganError(f"{self._name()}(input_shape={tuple(shape)}) holds {math.prod(shape)} values, but X "
                             f"has {n_features} features per row: give rows of {math.prod(shape)} values "
                             "(samples flattened in C order) or the input_shape of your samples")
        return tuple(int(size) for size in shape)

    def _overrides(self) -> dict:
        """The config overrides: `overrides` with the named parameters added."""
        name = self._name()
        given = self.overrides if self.overrides is not None else {}
        if not isinstance(given, Mapping):
            raise AeganError(f"{name}(overrides={given!r}): expected a dict of dotted config keys such as "
                             "{'model.hidden_sizes': [64]}, or None")
        try:
            _, table = read_toml(str(self.preset))
        except AeganError as error:
            raise AeganError(f"{name}(preset={str(self.preset)!r}): {error}") from None
        kind = given.get("model.kind", table.get("model", {}).get("kind", ""))
        all_keys = valid_keys({"model": {"kind": kind}})
        keys = [key for key in all_keys if not key.startswith("data.") and key not in PARAMETER_OF_KEY]
        for key in given:
            if not isinstance(key, str):
                raise AeganError(f"{name}(overrides): key {key!r} is not a string; expected dotted keys such as "
                                 "'model.hidden_sizes'")
            if key in PARAMETER_OF_KEY:
                raise AeganError(f"{name}(overrides={{{key!r}: ...}}): set it with the parameter "
                                 f"{PARAMETER_OF_KEY[key]}= instead")
            if key.startswith("data."):
                raise AeganError(f"{name}(overrides={{{key!r}: ...}}): the data is the X given to fit, so data.* "
                                 "keys do not apply; use scaling= and input_shape= instead")
            if key not in keys and key != "model.kind":
                raise AeganError(f"{name}(overrides={{{key!r}: ...}}): not a setting of preset {str(self.preset)!r}"
                                 f"{closest(key, keys)}; valid keys are {', '.join(keys)}")
        overrides = dict(given)
        for key, value in (("training.num_epochs", self.epochs), ("training.batch_size", self.batch_size),
                           ("training.learning_rate", self.learning_rate), ("training.optimizer", self.optimizer),
                           ("model.coding_size", self.coding_size)):
            if value is None:
                continue
            if key not in all_keys:
                raise AeganError(f"{name}({PARAMETER_OF_KEY[key]}={value!r}): preset {str(self.preset)!r} "
                                 f"({kind} model) has no {key}; leave {PARAMETER_OF_KEY[key]}=None")
            overrides[key] = value
        return overrides

    def _config(self, spec: DataSpec, seed: int, n_samples: int):
        """The resolved run config for data described by `spec`."""
        name = self._name()
        try:
            config = load_config(str(self.preset), self._overrides())
        except AeganError as error:
            raise AeganError(f"{name}(preset={str(self.preset)!r}): {error}") from None
        family = FAMILIES[config.model.kind]
        missing = self.required_capabilities - family.capabilities
        if missing or family.training_loop != self.required_loop:
            raise AeganError(f"{name}(preset={str(self.preset)!r}) builds a {config.model.kind} model; {name} "
                             f"needs {self.what_it_needs}")
        if getattr(config.model, "conditional", False) or getattr(config.model, "num_classes", 0):
            raise AeganError(f"{name}(preset={str(self.preset)!r}): a conditional model needs class labels, "
                             f"which {name} does not take; use an unconditional preset such as 'gan' or 'dcgan'")
        training = replace(config.training, seed=seed, device=self.device,
                           batch_size=min(config.training.batch_size, n_samples))
        try:
            model = config.model.for_data(spec)
        except AeganError as error:
            hint = "" if self.input_shape is not None else \
                " (images and sequences are given as flattened rows, with input_shape naming one sample's shape)"
            raise AeganError(f"{name}(preset={str(self.preset)!r}) on X: {error}{hint}") from None
        return replace(config, model=model, training=training)

    # --- the data --------------------------------------------------------------------------------
    def _validate(self, X, reset: bool):
        """X checked by scikit-learn (2-D, finite, numeric), as float32 or float64."""
        return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])

    def _describe(self, X: np.ndarray, sample_shape: tuple[int, ...]) -> tuple[np.ndarray, DataSpec]:
        """(samples as float32 of `sample_shape`, their DataSpec), scaled as the CLI scales its data."""
        samples = np.array(X, dtype=np.float32, order="C").reshape(len(X), *sample_shape)
        layout = {1: "table", 2: "sequence", 3: "image"}[len(sample_shape)]
        spec = describe(SourceData(samples=samples, layout=layout, format="array"),
                        DataConfig(scaling=self.scaling), source=f"X given to {self._name()}.fit")
        return samples, spec

    def _to_model(self, X: np.ndarray, dtype=np.float32) -> torch.Tensor:
        """Rows of X in the model's scale and sample shape, as `dtype`, on the model's device."""
        spec = self.spec_
        samples = torch.from_numpy(np.array(X, dtype=dtype, order="C")).reshape(len(X), *spec.shape)
        if spec.scaling == "standardize":  # spec.to_model's arithmetic, kept in `dtype`
            stat_shape = (-1, 1, 1) if spec.is_image else (-1,)
            mean = torch.tensor(spec.mean, dtype=samples.dtype).view(stat_shape)
            std = torch.tensor(spec.std, dtype=samples.dtype).view(stat_shape)
            samples = (samples - mean) / std
        return samples.to(self._device())

    def _draw(self, n_samples, random_state) -> np.ndarray:
        """`n_samples` new samples from the fitted model's `sample`, in X's units (float64 rows)."""
        self._check_fitted()
        count = check_sample_count(self._name(), n_samples)
        generator = torch.Generator().manual_seed(seed_of(random_state))
        self.model_.eval()
        with torch.no_grad():
            samples = self.model_.sample(count, generator=generator)
        return self._to_rows(samples, np.float64)

    def _to_rows(self, values: torch.Tensor, dtype) -> np.ndarray:
        """Model outputs back in X's units, one flattened row per sample, as `dtype`."""
        values = values.detach().cpu()
        return self.spec_.from_model(values).reshape(len(values), -1).numpy().astype(dtype)

    def _device(self) -> torch.device:
        return next(self.model_.parameters()).device

    def _model_for(self, dtype) -> torch.nn.Module:
        """The model computing in `dtype`: float32 data meet the trained model itself, float64 data
        a float64 copy of it (as scikit-learn's MLP computes in X's dtype), so that a row's outputs
        do not depend on which other rows share its batch. The copy is made per call (a few
        milliseconds for these models), so transform leaves the estimator as it was."""
        if np.dtype(dtype) == np.float32:
            return self.model_
        return copy.deepcopy(self.model_).double().eval()

    @torch.no_grad()
    def _batched(self, function, X: np.ndarray) -> torch.Tensor:
        """function(model, x) over model-space batches of X's rows, in X's dtype, concatenated on the CPU."""
        model = self._model_for(X.dtype)
        model.eval()
        outputs = [function(model, self._to_model(X[start:start + INFERENCE_BATCH], X.dtype)).cpu()
                   for start in range(0, len(X), INFERENCE_BATCH)]
        return torch.cat(outputs)

    # --- training ------------------------------------------------------------------------------
    def _log(self, message: str) -> None:
        if self.verbose:
            print(f"[{self._name()}] {message}", file=sys.stderr, flush=True)

    def _fit(self, X, y=None):
        """Check everything, describe X, train the preset's model on it; set the fitted attributes."""
        X = self._validate(X, reset=True)
        sample_shape = self._check_parameters(X.shape[1])
        seed = seed_of(self.random_state)
        samples, spec = self._describe(X, sample_shape)
        config = self._config(spec, seed, len(samples))
        device = torch.device("cuda" if self.device == "auto" and torch.cuda.is_available()
                              else "cpu" if self.device == "auto" else self.device)
        with _seeded(seed, device), _threads(config.training.num_threads), \
                tempfile.TemporaryDirectory(prefix="aegan-sklearn-") as run_dir:
            shuffle = torch.Generator().manual_seed(seed)
            model = build_model(config.model).to(device)
            try:
                history = self._train(model, config, samples, spec, device, Path(run_dir), shuffle)
            except TrainingDiverged as error:
                detail = str(error).split("; the run keeps")[0]
                raise AeganError(f"{self._name()}.fit: {detail}; lower learning_rate (now "
                                 f"{config.training.learning_rate:g})") from None
        # The CPU fast paths may leave convolution weights channels-last; a model loaded from its
        # weights (a checkpoint, a pickle) is contiguous, and computes bit for bit like this one.
        model.to(memory_format=torch.contiguous_format).eval()
        self.model_, self.config_, self.spec_, self.history_ = model, config, spec, history
        return self

    def _train(self, model, config, samples, spec, device, run_dir: Path, shuffle) -> list[dict]:
        """The autoencoder loop (greedy pretraining first when the preset asks for it); the
        training data is also the validation data, so `val_loss` is the loss on X in evaluation mode."""
        from aegan.data.batches import Batches
        from aegan.data.spec import Split
        from aegan.training import train_autoencoder
        from aegan.training.greedy import greedy_pretrain

        train_batches = Batches(Split(samples), spec, device)
        valid_batches = Batches(Split(samples), spec, device, labels=False)
        if config.training.pretrain_epochs:
            greedy_pretrain(model, config, train_batches.all(), valid_batches.all(), run_dir, shuffle, log=self._log)
        return train_autoencoder(model, config, train_batches, valid_batches, run_dir, shuffle,
                                 progress=self.verbose >= 2, rounded=spec.unit_range, log=self._log)

    # --- pickling: safetensors bytes and JSON, never a pickled torch module ------------------------------
    def __getstate__(self):
        state = super().__getstate__()
        if "model_" in state:
            state = dict(state)
            model = state.pop("model_")
            state["model_safetensors_"] = save_tensors(
                {key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()})
            state["config_"] = json.loads(json.dumps(state["config_"].to_dict()))
            state["spec_"] = json.loads(state["spec_"].to_json())
        return state

    def __setstate__(self, state):
        state = dict(state)
        if "model_safetensors_" in state:
            config = config_from_dict(state["config_"])
            model = build_model(config.model)
            model.load_state_dict(load_tensors(state.pop("model_safetensors_")))
            model.eval()
            state.update(model_=model, config_=config, spec_=DataSpec.from_dict(state["spec_"]))
        super().__setstate__(state)

    def _check_fitted(self) -> None:
        check_is_fitted(self, "model_")
