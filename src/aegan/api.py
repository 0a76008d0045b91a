"""The Python API: train a preset on any data, then look at what the run learned.

    import aegan
    run = aegan.train("stacked_ae", epochs=1, out="runs/example")            # Fashion-MNIST
    run = aegan.train("conv_ae", data="photos/", out="runs/photos")           # a folder of images
    aegan.plot_reconstructions(run, "runs/photos/reconstructions.png")

Training lives here; what a finished run can do lives beside it: codings.py (encode,
reconstructions, the codings map), sampling.py (samples, interpolations), scoring.py (anomaly
scores) and evaluation/evaluate_run.py (evaluate, the few-label experiment).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch

from aegan.codings import encode, plot_codings, plot_reconstructions
from aegan.config import apply_overrides, config_from_dict, config_from_table, load_config
from aegan.data.batches import Batches
from aegan.data.sources import load_splits
from aegan.errors import AeganError, TrainingDiverged
from aegan.evaluation.evaluate_run import evaluate, pretraining_experiment
from aegan.files import atomic_write_bytes, atomic_write_json
from aegan.models import FAMILIES, build_model
from aegan.runs import CONFIG_FILE, SPEC_FILE, Run, is_run, prepare_run_dir, read_spec
from aegan.training.checkpoint import load_checkpoint
from aegan.training.interrupt import StopRequests
from aegan.training import distributed
from aegan.training.precision import check as check_precision
from aegan.training.optimizers import build_optimizer
from aegan.runtime import configure_threads, seed_everything, select_device
from aegan.sampling import interpolate, plot_interpolations, plot_samples, sample
from aegan.scoring import score

__all__ = ["train", "resume", "encode", "plot_codings", "plot_reconstructions", "evaluate", "pretraining_experiment",
           "interpolate", "plot_interpolations", "plot_samples", "sample", "score", "Run"]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def train(preset: str, *, data: str | os.PathLike | None = None, out: str | os.PathLike | None = None,
          epochs: int | None = None, batch_size: int | None = None, seed: int | None = None,
          overrides: dict | None = None, data_dir: str | None = None, progress: bool = True, log=_log) -> Run:
    """Train a preset (or TOML file) into a new run folder; return the Run.

    `data` is a folder of images, a .npy / .npz / .csv file or IDX files (Fashion-MNIST when
    omitted); the model takes the data's shape, scaling and classes from it.
    """
    overrides = dict(overrides or {})
    for key, value in (("training.num_epochs", epochs), ("training.batch_size", batch_size),
                       ("training.seed", seed), ("data.data_dir", data_dir)):
        if value is not None:
            overrides[key] = value
    if data is not None:
        overrides["data.path"], overrides["data.dataset"] = str(data), ""
    config = load_config(preset, overrides)
    _require_packages(config)
    splits = load_splits(config.data, config.training.seed)  # before the folder: no data, no folder
    spec = splits.spec
    config = replace(config, model=config.model.for_data(spec))
    family = FAMILIES[config.model.kind]
    check_gan_batch_size(config, family, len(splits.train))
    if config.training.time_limit_minutes and family.training_loop not in ("gan", "diffusion"):
        raise AeganError(f"training.time_limit_minutes={config.training.time_limit_minutes:g} applies to GANs and "
                         "diffusion models only: remove it, or set training.num_epochs")
    if config.training.tensorboard and family.training_loop == "diffusion":
        raise AeganError("training.tensorboard with a diffusion model: its loop writes metrics.jsonl and sample "
                         "grids (RUN/samples/) but no TensorBoard events yet; remove training.tensorboard")
    if config.training.ema_decay and family.training_loop not in ("gan", "diffusion"):
        raise AeganError(f"training.ema_decay={config.training.ema_decay:g} applies to GANs and diffusion models "
                         "only: remove it")
    if config.training.learning_rate_schedule != "constant" and family.training_loop != "autoencoder":
        raise AeganError(f"training.learning_rate_schedule={config.training.learning_rate_schedule!r} applies to "
                         "autoencoders only: remove it, or set it to 'constant'")
    if config.training.pretrain_epochs and splits.streamed:
        raise AeganError("training.pretrain_epochs: greedy pretraining keeps every stage's codings in memory, "
                         "and this data is streamed: set data.stream=never, or remove the pretrain_* keys")
    check_precision(config.training, select_device(config.training.device))  # a refusal before any folder
    with distributed.session(select_device(config.training.device)) as parallel:
        distributed.refuse_unsupported(config, parallel, family)

        def make_folder() -> str:  # rank 0 alone, in a torchrun job
            run_dir = prepare_run_dir(Path(out) if out else
                                      Path("runs") / f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}")
            atomic_write_json(run_dir / CONFIG_FILE, config.to_dict())
            atomic_write_bytes(run_dir / SPEC_FILE, (spec.to_json() + "\n").encode())
            return str(run_dir)

        run_dir = Path(parallel.on_main(make_folder))
        with parallel.lock(run_dir):
            return _fit(config, splits, run_dir, progress, log, parallel=parallel)


RESUME_KEYS = ("training.num_epochs", "training.learning_rate", "training.divergence_factor",
               "training.checkpoint_every_steps", "training.keep_checkpoints", "training.num_threads")


def resume(run: str | os.PathLike, *, epochs: int | None = None, overrides: dict | None = None,
           progress: bool = True, log=_log) -> Run:
    """Continue a run from its newest complete checkpoint (an epoch's end or a step within one):
    its weights, optimizer state, random generators and position, with metrics.jsonl cut back to
    it. On the CPU the run ends with the same weights as one that was never interrupted.

    `epochs` (more epochs for a finished run) and `overrides` of RESUME_KEYS (a lower learning
    rate after a divergence) change the run's config.json; then it is no longer bit-identical."""
    run_dir = Path(run)
    if not is_run(run_dir):
        raise AeganError(f"--resume {run}: not a run folder (no {CONFIG_FILE}); give a folder written by `aegan train`")
    overrides = dict(overrides or {})
    if epochs is not None:
        overrides["training.num_epochs"] = epochs
    for key in overrides:
        if key not in RESUME_KEYS:
            raise AeganError(f"--resume {run} --set {key}: a resumed run keeps its model, data and batches; only "
                             f"{', '.join(RESUME_KEYS)} may change (train anew for the rest)")
    try:
        values = json.loads((run_dir / CONFIG_FILE).read_text())
    except json.JSONDecodeError as error:
        raise AeganError(f"{run_dir / CONFIG_FILE} is damaged ({error}): train the run again") from None
    config = config_from_dict(values)
    if overrides:
        table = {key: value for key, value in config.to_dict().items() if key in ("model", "data", "training")}
        config = config_from_table(config.name, apply_overrides(table, overrides))
    _require_packages(config)
    spec = read_spec(run_dir)
    splits = load_splits(config.data, config.training.seed)
    if splits.spec != spec:
        raise AeganError(f"--resume {run}: its data changed since it started ({splits.spec.describe()} from "
                         f"{splits.spec.source}, was {spec.describe()}): resume with the same data, or train anew")
    checkpoint = load_checkpoint(run_dir / "checkpoints")
    epoch = checkpoint[1]["epoch"]
    if epoch >= config.training.num_epochs:
        raise AeganError(f"--resume {run}: it finished all {config.training.num_epochs} epochs; nothing to resume "
                         f"(give more with --epochs)")
    with distributed.session(select_device(config.training.device)) as parallel:
        distributed.refuse_unsupported(config, parallel, FAMILIES[config.model.kind])
        with parallel.lock(run_dir):

            def rewrite() -> None:  # rank 0 alone; the others wait for it (metrics.jsonl holds the best loss)
                if overrides:
                    atomic_write_json(run_dir / CONFIG_FILE, config.to_dict())
                _cut_metrics(run_dir / "metrics.jsonl", epoch)

            parallel.on_main(rewrite)
            changed = "".join(f", {key}={value}" for key, value in overrides.items())
            if parallel.main:
                log(f"resuming {run_dir} after epoch {epoch} of {config.training.num_epochs}{changed}")
            return _fit(config, splits, run_dir, progress, log, checkpoint, parallel=parallel)


def _require_packages(config) -> None:
    """Stop, before anything is written, when an option needs a package that is not installed."""
    if config.training.tensorboard:
        from aegan.training.tensorboard import require_tensorboard

        require_tensorboard()


def _cut_metrics(path: Path, epoch: int) -> None:
    """metrics.jsonl without the lines of epochs after `epoch` (and a line cut short by a kill)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["epoch"] <= epoch:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    atomic_write_bytes(path, "".join(line + "\n" for line in kept).encode())


def _fit(config, splits, run_dir: Path, progress, log, checkpoint=None, parallel=distributed.SINGLE) -> Run:
    """Build the model (restored from `checkpoint` when resuming) and run the family's loop; in a
    torchrun job (`parallel`), on this process's slice of every batch, rank 0 alone writing."""
    from aegan.training.checkpoint import restore

    spec = splits.spec
    family = FAMILIES[config.model.kind]
    configure_threads(config.training.num_threads)
    device = select_device(config.training.device) if parallel.single else parallel.device
    shuffle = seed_everything(config.training.seed)
    model = parallel.prepare(build_model(config.model).to(device))
    if not parallel.main:
        progress, log = False, (lambda message: None)
    info_path = run_dir / "run.json"
    if parallel.main:
        info = json.loads(info_path.read_text()) if checkpoint and info_path.is_file() else {"training_steps": []}
        info.update({"device": str(device), "threads": torch.get_num_threads(), "processes": parallel.world_size,
                     "streamed": splits.streamed, "data": spec.describe(), "torch": torch.__version__,
                     "python": platform.python_version()})
        atomic_write_json(info_path, info)
    train_batches = Batches(splits.train, spec, device, splits.streamed)
    processes = "" if parallel.single else f", {parallel.world_size} processes"
    log(f"training {config.name} on {len(splits.train):,} samples ({spec.describe()}) from {spec.source} "
        f"({device}, {torch.get_num_threads()} threads{processes}{', streamed' if splits.streamed else ''}) "
        f"into {run_dir}")
    start_epoch = checkpoint[1]["epoch"] if checkpoint else 0
    position = None
    if checkpoint and "position" in checkpoint[1]:  # a checkpoint from the middle of an epoch
        position = dict(checkpoint[1]["position"])
        position.update({key[len("position."):]: value for key, value in checkpoint[0].items()
                         if key.startswith("position.")})
    if family.training_loop == "gan":
        from aegan.training.gan import gan_optimizers, train_gan

        optimizers = gan_optimizers(model, config.training)
        replay = torch.Generator().manual_seed(config.training.seed + 2)
        extra_state = None
        if checkpoint:
            generators = {"shuffle": shuffle, "replay": replay} if "rng.replay" in checkpoint[0] else {"shuffle": shuffle}
            rates = {name: optimizer.param_groups[0]["lr"] for name, optimizer in optimizers.items()}
            restore(*checkpoint, model, optimizers, generators, learning_rate=rates)
            extra_state = ({key[len("extra."):]: value for key, value in checkpoint[0].items()
                            if key.startswith("extra.")}, checkpoint[1].get("extra", {}), device)
        with StopRequests() as stop, _resume_hint(run_dir, config):
            train_gan(model, config, train_batches, run_dir, shuffle, progress=progress, log=log,
                      start_epoch=start_epoch, optimizers=optimizers, replay_generator=replay, position=position,
                      stop=stop, extra_state=extra_state, parallel=parallel)
        return Run(run_dir)
    if family.training_loop == "diffusion":
        from aegan.training.diffusion import train_diffusion

        optimizer = build_optimizer(config.training.optimizer, model.parameters(), config.training.learning_rate,
                                    config.training.momentum, config.training.betas)
        extra_state = None
        if checkpoint:
            restore(*checkpoint, model, optimizer, {"shuffle": shuffle}, learning_rate=config.training.learning_rate)
            extra_state = ({key[len("extra."):]: value for key, value in checkpoint[0].items()
                            if key.startswith("extra.")}, checkpoint[1].get("extra", {}), device)
        with StopRequests() as stop, _resume_hint(run_dir, config):
            train_diffusion(model, config, train_batches, run_dir, shuffle, optimizer, progress=progress, log=log,
                            start_epoch=start_epoch, position=position, stop=stop, extra_state=extra_state)
        return Run(run_dir)
    optimizer = build_optimizer(config.training.optimizer, model.parameters(), config.training.learning_rate,
                                config.training.momentum)
    if checkpoint:
        restore(*checkpoint, model, optimizer, {"shuffle": shuffle}, learning_rate=config.training.learning_rate)
    with StopRequests() as stop, _resume_hint(run_dir, config):
        _train_autoencoder(model, config, splits, train_batches, device, run_dir, shuffle, progress, log,
                           start_epoch, optimizer, position, stop, resumed=checkpoint is not None, parallel=parallel,
                           scaler_state=checkpoint[1].get("extra", {}).get("grad_scaler") if checkpoint else None)
    return Run(run_dir)


@contextmanager
def _resume_hint(run_dir: Path, config):
    """A diverged run's message ends with the command that continues it from its last good
    checkpoint at a tenth of the learning rate."""
    try:
        yield
    except TrainingDiverged as error:
        rate = config.training.learning_rate / 10
        raise TrainingDiverged(f"{error} and continue from that checkpoint: "
                               f"`aegan train --resume {run_dir} --set training.learning_rate={rate:g}`") \
            from None


def _train_autoencoder(model, config, splits, train_batches, device, run_dir, shuffle, progress, log,
                       start_epoch: int, optimizer, position, stop, resumed: bool = False,
                       parallel=distributed.SINGLE, scaler_state: dict | None = None) -> None:
    from aegan.evaluation import vae_report
    from aegan.training import evaluate_reconstruction, train_autoencoder
    from aegan.training.greedy import greedy_pretrain

    spec = splits.spec
    valid_batches = Batches(splits.valid, spec, device, splits.streamed)  # with labels, for TensorBoard's projector
    rounded = spec.unit_range  # rounded accuracy needs data in [0, 1]
    if config.training.pretrain_epochs and not resumed:  # the first checkpoint (epoch 0) holds the pretrained weights
        (run_dir / "pretrain.jsonl").unlink(missing_ok=True)  # so only an interrupted pretraining starts over
        greedy_pretrain(model, config, train_batches.all(), valid_batches.all(), run_dir, shuffle, log=log)
    train_autoencoder(model, config, train_batches, valid_batches, run_dir, shuffle, start_epoch=start_epoch,
                      optimizer=optimizer, progress=progress, rounded=rounded, log=log, position=position, stop=stop,
                      parallel=parallel, scaler_state=scaler_state)
    if not parallel.main:  # rank 0 measures the test split
        return
    test_batches = Batches(splits.test, spec, device, splits.streamed, labels=False)
    test = evaluate_reconstruction(model, test_batches, rounded=rounded)
    if "vae" in type(model).evaluations:
        test.update(vae_report(model, test_batches.all(), seed=config.training.seed))
        log(f"test negative ELBO {test['negative_elbo_nats']:.1f} nats per sample, "
            f"{test['active_units']}/{test['coding_size']} active units")
    atomic_write_json(run_dir / "test.json", test)
    log(f"test loss {test['loss']:.4f}" + (f"  test rounded_accuracy {test['rounded_accuracy']:.4f}"
                                           if rounded else ""))


def check_gan_batch_size(config, family, samples: int) -> None:
    """A GAN trains on whole batches only (as the seed's dataset does), so it needs one at least."""
    if family.training_loop in ("gan", "diffusion") and config.training.batch_size > samples:
        what = "a GAN" if family.training_loop == "gan" else "a diffusion model"
        raise AeganError(f"training.batch_size={config.training.batch_size} is more than the {samples:,} training "
                         f"samples, and {what} trains on whole batches only: use --batch-size {samples} or less")
