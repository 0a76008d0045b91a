"""Run configuration: frozen dataclasses built from TOML presets and KEY=VALUE overrides.

A run config has three sections, `model`, `data` and `training`. The `model` section's
`kind` picks the model family; its other keys are that family's config dataclass fields.
Every key is checked: an unknown one is an error that suggests the closest valid key.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import importlib.resources
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aegan.errors import AeganError, closest
from aegan.models import MODEL_KINDS

OPTIMIZERS = ("sgd", "rmsprop", "adam", "nadam")
DEVICES = ("auto", "cpu", "cuda")


def _check_positive(key, value):
    if not math.isfinite(value) or value <= 0:
        raise AeganError(f"{key}={value}: expected a positive, finite number")


def _check_choice(key, value, choices):
    if value not in choices:
        raise AeganError(f"{key}={value!r}: expected one of {', '.join(choices)}{closest(value, choices)}")


DATASETS = ("", "fashion_mnist", "toy3d")
FORMATS = ("auto", "image_folder", "npy", "npz", "csv", "idx")
LAYOUTS = ("auto", "image", "table", "sequence")
SCALINGS = ("auto", "divide_255", "none", "standardize")
STREAMING = ("auto", "always", "never")


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is read (see aegan.data.sources).

    With `path` empty the built-in `dataset` is used (Fashion-MNIST unless it says toy3d);
    with a `path`, the format is detected from it unless `format` names one.
    """

    dataset: str = ""  # "" = fashion_mnist, or the files at `path` when one is given
    data_dir: str = ""  # fashion_mnist: empty for the search path of aegan.data
    path: str = ""  # a folder of images, a .npy/.npz array, a .csv table, IDX files, or a folder of train/valid/test
    format: str = "auto"  # auto: from the path; or image_folder, npy, npz, csv, idx
    layout: str = "auto"  # arrays: image (N,H,W[,C] or N,C,H,W), table (N,F) or sequence (N,T,F)
    image_size: tuple[int, ...] = ()  # image folders: [H, W] (or [S]) to resize and centre-crop to
    channels: int = 0  # images: 1 (grayscale) or 3 (RGB); 0 keeps what the files hold
    label_column: str = ""  # csv: the column of class labels, kept out of the features
    labels_key: str = ""  # npz: the array of labels ("" tries labels, y)
    labels_path: str = ""  # npy: a second .npy file of labels, one per sample
    scaling: str = "auto"  # auto: uint8 divided by 255, floats in [0, 1] as they are, others standardised
    stream: str = "auto"  # always: read batches from disk in the background; auto: when the data is large
    num_samples: int = 60  # toy3d
    validation_fraction: float = 0.1  # when the data has no valid split of its own
    test_fraction: float = 0.1  # when the data has no test split of its own
    train_subset: int = 0  # train on the first N training samples only (0: all), for quick experiments

    def __post_init__(self):
        _check_choice("data.dataset", self.dataset, DATASETS)
        _check_choice("data.format", self.format, FORMATS)
        _check_choice("data.layout", self.layout, LAYOUTS)
        _check_choice("data.scaling", self.scaling, SCALINGS)
        _check_choice("data.stream", self.stream, STREAMING)
        if self.dataset and self.path:
            raise AeganError(f"data.dataset={self.dataset!r} and data.path={self.path!r}: give one of them "
                             "(remove data.dataset to train on the files at data.path)")
        if not (0 < self.validation_fraction < 0.5 and 0 < self.test_fraction < 0.5):
            raise AeganError("data.validation_fraction and data.test_fraction: expected values in (0, 0.5)")
        _check_positive("data.num_samples", self.num_samples)
        if self.train_subset < 0:
            raise AeganError(f"data.train_subset={self.train_subset}: expected 0 (all) or a positive count")
        if self.channels not in (0, 1, 3):
            raise AeganError(f"data.channels={self.channels}: expected 1 (grayscale), 3 (RGB) or 0 (as the files are)")
        if len(self.image_size) > 2 or any(size < 1 for size in self.image_size):
            raise AeganError(f"data.image_size={list(self.image_size)}: expected [height, width] or [size] "
                             "in pixels, for example [32, 32]")

    @property
    def builtin(self) -> str:
        """The built-in data set, or "" when the data come from `path`."""
        return "" if self.path else (self.dataset or "fashion_mnist")


@dataclass(frozen=True)
class TrainingConfig:
    num_epochs: int = 20
    batch_size: int = 32
    optimizer: str = "sgd"
    learning_rate: float = 1.5
    momentum: float = 0.0
    seed: int = 42
    device: str = "auto"
    num_threads: int = 0  # 0: PyTorch's default, one thread per physical core
    fast_path: bool = True  # hand-derived steps where they apply (same results, faster)
    # Stop (exit status 3) when an autoencoder's epoch loss rises past this many times its best (0: off);
    # a NaN or infinite loss always stops a run, checked every 100 steps.
    divergence_factor: float = 10.0
    checkpoint_every_steps: int = 0  # also checkpoint within an epoch every this many steps (0: at epoch ends only)
    keep_checkpoints: int = 2  # the newest this many checkpoints are kept
    # Greedy layer-wise pretraining: epochs and learning rate of each stage (one per coding layer),
    # before num_epochs of fine-tuning the stacked model at learning_rate. Empty: no pretraining.
    pretrain_epochs: tuple[int, ...] = ()
    pretrain_learning_rates: tuple[float, ...] = ()
    # GANs: experience replay of earlier fakes for the discriminator (0 batches: off)
    replay_pool_batches: int = 0
    replay_probability: float = 0.5
    # GANs: the loss (training/gan_losses.py: bce, the chapter's; minimax; hinge; least_squares;
    # wasserstein), discriminator steps per generator step, the weights of the WGAN-GP gradient
    # penalty and the R1 penalty (0: off), the generator's moving average (0: off; 0.999 is usual),
    # DiffAugment policies of what the discriminator sees (translation, cutout), and each
    # network's own learning rate (0: learning_rate).
    gan_loss: str = "bce"
    critic_steps: int = 1
    gradient_penalty: float = 0.0
    r1_penalty: float = 0.0
    ema_decay: float = 0.0
    augment: tuple[str, ...] = ()
    generator_learning_rate: float = 0.0
    discriminator_learning_rate: float = 0.0
    betas: tuple[float, ...] = (0.9, 0.999)  # Adam's and NAdam's; GANs often use (0.5, 0.999) or (0, 0.9)
    # GANs: stop after this many minutes of training (0: off), at the end of the step that passes it;
    # the last epoch is then partial (its metrics line says how many steps). For equal-time comparisons.
    time_limit_minutes: float = 0.0
    # Also write TensorBoard event files under RUN/tensorboard/: each epoch's metrics, image grids
    # (reconstructions or samples) and histograms (codings, or a GAN discriminator's logits), and the
    # embedding projector at the end. Same weights as without; needs pip install 'aegan[tensorboard]'.
    tensorboard: bool = False
    # Mixed precision (training/precision.py): "fp32", or autocast to "bf16" (CPUs with AVX-512 BF16
    # or AMX, GPUs) or "fp16" (GPUs; with a gradient scaler). The hand-derived fast steps are fp32 only.
    precision: str = "fp32"
    # Autoencoders: the learning rate over the run, "constant" or "cosine" (from learning_rate down to 0
    # at the last step of num_epochs, step by step; the hand-derived fast steps keep a constant rate).
    learning_rate_schedule: str = "constant"
    # torch.compile the forward passes of the autograd step (training/compiled.py); the hand-derived
    # fast steps are then off. compile_backend: "inductor" (torch's default) or another of
    # torch.compiler.list_backends().
    compile: bool = False
    compile_backend: str = "inductor"

    def __post_init__(self):
        _check_positive("training.num_epochs", self.num_epochs)
        _check_positive("training.batch_size", self.batch_size)
        _check_positive("training.learning_rate", self.learning_rate)
        _check_choice("training.optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("training.device", self.device, DEVICES)
        _check_choice("training.precision", self.precision, ("fp32", "bf16", "fp16"))
        _check_choice("training.learning_rate_schedule", self.learning_rate_schedule, ("constant", "cosine"))
        if not 0 <= self.momentum < 1:
            raise AeganError(f"training.momentum={self.momentum}: expected 0 <= momentum < 1")
        if self.num_threads < 0:
            raise AeganError(f"training.num_threads={self.num_threads}: expected 0 (auto) or more")
        if self.divergence_factor != 0 and self.divergence_factor <= 1:
            raise AeganError(f"training.divergence_factor={self.divergence_factor}: expected 0 (off) or more than 1")
        if self.checkpoint_every_steps < 0 or self.keep_checkpoints < 1:
            raise AeganError(f"training.checkpoint_every_steps={self.checkpoint_every_steps} and training."
                             f"keep_checkpoints={self.keep_checkpoints}: expected 0 or more, and 1 or more")
        if self.seed < 0:
            raise AeganError(f"training.seed={self.seed}: expected a non-negative whole number")
        _check_gan_training(self)
        if self.replay_pool_batches < 0 or not 0 <= self.replay_probability <= 1:
            raise AeganError("training.replay_pool_batches must be >= 0 and training.replay_probability in [0, 1]")
        if len(self.pretrain_epochs) != len(self.pretrain_learning_rates):
            raise AeganError("training.pretrain_epochs and training.pretrain_learning_rates: expected one "
                             f"of each per stage, got {len(self.pretrain_epochs)} and {len(self.pretrain_learning_rates)}")
        if not isinstance(self.compile, bool):
            raise AeganError(f"training.compile={self.compile!r}: expected true or false")
        if self.compile and (self.gradient_penalty or self.r1_penalty):
            raise AeganError("training.compile with a gradient penalty (training.gradient_penalty or r1_penalty): "
                             "torch.compile does not differentiate twice; turn one of them off")
        if not isinstance(self.tensorboard, bool):
            raise AeganError(f"training.tensorboard={self.tensorboard!r}: expected true or false")


def _check_gan_training(training) -> None:
    from aegan.training.augment import AUGMENTATIONS
    from aegan.training.gan_losses import GAN_LOSSES

    _check_choice("training.gan_loss", training.gan_loss, GAN_LOSSES)
    for policy in training.augment:
        _check_choice("training.augment", policy, AUGMENTATIONS)
    if training.critic_steps < 1:
        raise AeganError(f"training.critic_steps={training.critic_steps}: expected 1 or more (5 is WGAN-GP's)")
    for key in ("gradient_penalty", "r1_penalty", "generator_learning_rate", "discriminator_learning_rate"):
        if getattr(training, key) < 0:
            raise AeganError(f"training.{key}={getattr(training, key)}: expected 0 (off, or learning_rate) or more")
    if training.time_limit_minutes < 0:
        raise AeganError(f"training.time_limit_minutes={training.time_limit_minutes}: expected 0 (off) or more")
    if not 0 <= training.ema_decay < 1:
        raise AeganError(f"training.ema_decay={training.ema_decay}: expected 0 (off) <= ema_decay < 1, e.g. 0.999")
    if len(training.betas) != 2 or not all(0 <= beta < 1 for beta in training.betas):
        raise AeganError(f"training.betas={list(training.betas)}: expected two numbers in [0, 1), e.g. [0.5, 0.999]")


@dataclass(frozen=True)
class RunConfig:
    name: str
    model: Any
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _coerce(key: str, value: Any, kind: Any) -> Any:
    """`value` as the field type `kind` (int, float, str, bool or tuple[int, ...])."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return _coerce(key, value, [k for k in typing.get_args(kind) if k is not type(None)][0])
    if origin is tuple:
        item = typing.get_args(kind)[0]
        if isinstance(value, (int, float)) and not isinstance(value, bool) or item is str and isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise AeganError(f"{key}={value!r}: expected a list such as [100, 30]")
        return tuple(_coerce(key, v, item) for v in value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise AeganError(f"{key}={value!r}: expected true or false")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise AeganError(f"{key}={value!r}: expected a whole number")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise AeganError(f"{key}={value!r}: expected a finite number")
            return float(value)
        raise AeganError(f"{key}={value!r}: expected a number")
    if kind is str:
        return str(value)
    return value


def build_dataclass(cls, values: dict, section: str):
    """An instance of `cls` from a plain dict, checking keys and coercing types."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            raise AeganError(
                f"unknown key {section}.{key}{closest(key, names)}: "
                f"valid keys are {', '.join(section + '.' + n for n in names)}"
            )
        kwargs[key] = _coerce(f"{section}.{key}", value, hints[key])
    return cls(**kwargs)


def preset_names() -> list[str]:
    folder = importlib.resources.files("aegan") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def preset_descriptions() -> dict[str, str]:
    return {name: read_toml(name)[1].get("description", "") for name in preset_names()}


def read_toml(preset_or_path: str) -> tuple[str, dict]:
    """(name, table) for a preset name or a path to a TOML file."""
    path = Path(preset_or_path)
    if preset_or_path.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise AeganError(f"config file {preset_or_path} does not exist: check the path")
        text, name = path.read_text(), path.stem
    else:
        names = preset_names()
        if preset_or_path not in names:
            raise AeganError(
                f"unknown preset {preset_or_path!r}{closest(preset_or_path, names)}: "
                "run `aegan presets` to list them, or pass a path to a .toml file"
            )
        text = (importlib.resources.files("aegan") / "presets" / f"{preset_or_path}.toml").read_text()
        name = preset_or_path
    try:
        return name, tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise AeganError(f"{preset_or_path} is not valid TOML ({error}): fix the file") from None


def parse_override(text: str) -> tuple[str, Any]:
    """'section.key=value' -> ('section.key', value), the value read as TOML when it can be."""
    if "=" not in text:
        raise AeganError(f"--set {text!r}: expected KEY=VALUE, for example training.learning_rate=0.5")
    key, raw = (part.strip() for part in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def valid_keys(table: dict) -> list[str]:
    kind = table.get("model", {}).get("kind", "")
    kind = kind if isinstance(kind, str) else ""
    keys = [f"data.{f.name}" for f in dataclasses.fields(DataConfig)]
    keys += [f"training.{f.name}" for f in dataclasses.fields(TrainingConfig)]
    if kind in MODEL_KINDS:
        keys += [f"model.{f.name}" for f in dataclasses.fields(MODEL_KINDS[kind][0])]
    return keys


def apply_overrides(table: dict, overrides: dict[str, Any]) -> dict:
    table = copy.deepcopy(table)
    for key, value in overrides.items():
        if key == "model.kind":
            table.setdefault("model", {})["kind"] = value
    for key, value in overrides.items():
        keys = valid_keys(table)
        if key not in keys:
            raise AeganError(f"unknown --set key {key!r}{closest(key, keys)}: valid keys are {', '.join(keys)}")
        section, field = key.split(".", 1)
        table.setdefault(section, {})[field] = value
    return table


def config_from_table(name: str, table: dict) -> RunConfig:
    unknown = set(table) - {"description", "model", "data", "training"}
    if unknown:
        key = sorted(unknown)[0]
        raise AeganError(
            f"unknown section {key!r}{closest(key, ['model', 'data', 'training'])}: "
            "expected [model], [data] and [training]"
        )
    model_table = dict(table.get("model", {}))
    kind = model_table.get("kind", "")
    if not isinstance(kind, str) or kind not in MODEL_KINDS:
        raise AeganError(
            f"model.kind={kind!r}: expected one of {', '.join(MODEL_KINDS)}{closest(kind, MODEL_KINDS)}"
        )
    return RunConfig(
        name=name,
        model=build_dataclass(MODEL_KINDS[kind][0], model_table, "model"),
        data=build_dataclass(DataConfig, table.get("data", {}), "data"),
        training=build_dataclass(TrainingConfig, table.get("training", {}), "training"),
    )


def load_config(preset_or_path: str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """The resolved config of a preset (or TOML file) with dotted-key overrides applied."""
    name, table = read_toml(preset_or_path)
    return config_from_table(name, apply_overrides(table, overrides or {}))


def config_from_dict(values: dict) -> RunConfig:
    """Inverse of RunConfig.to_dict (reads a run folder's config.json)."""
    table = {k: values.get(k, {}) for k in ("model", "data", "training")}
    return config_from_table(values.get("name", "run"), table)
