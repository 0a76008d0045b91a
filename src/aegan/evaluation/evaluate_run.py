"""`aegan evaluate` and `aegan classify`: what applies to a run, asked of its family and its data.

The family's `evaluations` say which measures apply (reconstruction, representation, sparsity,
pca, vae, generative); the data's description says whether the ones that need labels can run.
"""

from __future__ import annotations

import math
import sys
import time

import torch

from aegan.codings import as_run
from aegan.data.batches import Batches
from aegan.errors import AeganError
from aegan.files import atomic_write_json

NEEDS_LABELS = ("representation metrics (linear probe, k-NN, PCA at as many components, t-SNE trustworthiness) "
                "need class labels: give a folder with one subfolder per class, data.label_column for a CSV, "
                "or labels in the npz / data.labels_path")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _generative(run, splits, n: int, log, steps: int | None = None) -> dict:
    from aegan.evaluation.generative import generative_report

    options = {"steps": steps} if steps is not None else {}
    seconds = []

    def draw(count: int, seed: int):
        generator = torch.Generator().manual_seed(seed)
        start = time.perf_counter()
        with torch.no_grad():
            samples = run.model.sample(count, generator=generator, **options).numpy()
        seconds.append((time.perf_counter() - start) / count * 1000)
        return samples

    report = generative_report(draw, splits.train, splits.test, splits.spec, n=n, log=log)
    if seconds:
        report["sampling_seconds_per_1000"] = round(seconds[0], 3)
    if steps is not None:
        report["sampling_steps"] = steps
    return report


def check_sampling_steps(run, steps: int | None) -> None:
    """--steps applies to models that sample in steps (diffusion), up to their number of time steps."""
    if steps is None:
        return
    if "steps" not in getattr(type(run.model), "sampling_options", ()):
        raise AeganError(f"--steps {steps}: {run.path} is a {run.config.model.kind} run, which samples in one pass; "
                         "drop --steps (it is for diffusion runs)")
    run.model.timesteps(steps)  # the range check, with its one-line error


def evaluate(run, split: str = "test", n: int = 10000, log=_log, umap: bool = False,
             steps: int | None = None) -> dict:
    """What applies to the run, on one split; written to RUN/evaluation.json.

    Always the loss (and its parts) for models that reconstruct; a linear autoencoder: the
    comparison with PCA fitted on the training split; a sigmoid coding layer: its sparsity, with
    RUN/coding-activations.png; labelled data: linear-probe and 5-NN accuracy of the codings next
    to PCA's with as many components (and PCA at 10, 30, 64), and the trustworthiness of the t-SNE
    map (and, with `umap`, of the UMAP map); a VAE: the
    negative ELBO and active units; a run that samples: the generative metrics of `n` samples in
    the feature space of a classifier trained on the run's own labelled data, each with its floor,
    and the sampling time per 1,000 samples (a diffusion run: in `steps` DDIM steps, or its default).
    """
    from aegan.evaluation import (compare_with_pca, is_linear_autoencoder, plot_activation_histograms,
                                  representation_report, sparsity_report, vae_report)

    run = as_run(run)
    check_sampling_steps(run, steps)
    evaluations = type(run.model).evaluations
    splits = run.splits()
    spec = splits.spec
    result: dict = {"run": str(run.path), "preset": run.config.name, "split": split, "epoch": run.epoch,
                    "data": spec.describe()}
    if "reconstruction" in evaluations:
        chosen = splits.split(split)
        model = run.model
        batches = Batches(chosen, spec, labels=False)
        terms: dict[str, float] = {}
        with torch.no_grad():
            for batch in batches.in_order(2500):
                for key, value in model.loss_terms(batch).items():
                    terms[key] = terms.get(key, 0.0) + value.item() * len(batch) / len(batches)
        result.update({f"{key}_loss" if key != "loss" else "loss": value for key, value in terms.items()})
        result["parameters"] = sum(p.numel() for p in model.parameters())
        if "pca" in evaluations and is_linear_autoencoder(model):
            train_values = Batches(splits.train, spec, labels=False).all().numpy()
            result.update(compare_with_pca(model, train_values, batches.all().numpy(),
                                           lambda values: run.model(torch.from_numpy(values)).detach().numpy()))
        if "sparsity" in evaluations and getattr(model.config, "coding_activation", "") == "sigmoid":
            codings = run.encode(chosen.samples)
            result.update(sparsity_report(codings))
            plot = plot_activation_histograms(codings, run.path / "coding-activations.png",
                                              title=f"{run.config.name}: coding activations ({split})")
            result["activation_histogram"] = str(plot)
        if "representation" in evaluations:
            if spec.has_labels:
                log("representation metrics: linear probe, 5-NN, PCA, t-SNE trustworthiness")
                result.update(representation_report(
                    run.encode(splits.train.samples), splits.train.labels, run.encode(chosen.samples), chosen.labels,
                    Batches(splits.train, spec, labels=False).all().numpy(), batches.all().numpy(),
                    seed=run.config.training.seed, umap=umap))
            else:
                result["representation_metrics"] = "skipped: " + NEEDS_LABELS
        if "vae" in evaluations:
            result.update(vae_report(model, batches.all(), seed=run.config.training.seed))
    if "generative" in evaluations:
        result.update(_generative(run, splits, n, log, steps))
    atomic_write_json(run.path / "evaluation.json", result)
    return result


def pretraining_file(labels: int, fine_tune_learning_rate: float | None = None,
                     reconstruction_weight: float = 0.0) -> str:
    """The result file's name in the run folder: pretraining-LABELS.json at the default fine-tuning
    rate, with -fine-tune-RATE at another and -reconstruction-WEIGHT with the reconstructing arms
    (so protocols do not overwrite each other)."""
    name = f"pretraining-{labels}"
    if fine_tune_learning_rate is not None:
        name += f"-fine-tune-{fine_tune_learning_rate:g}"
    if reconstruction_weight:
        name += f"-reconstruction-{reconstruction_weight:g}"
    return name + ".json"


def pretraining_experiment(run, labels: int = 500, seeds: int = 3, epochs: int = 20,
                           fine_tune_learning_rate: float | None = None, reconstruction_weight: float = 0.0,
                           log=_log) -> dict:
    """Few labels: a classifier from scratch against one on the run's trained encoder (frozen,
    then fine-tuned at `fine_tune_learning_rate`, default a tenth of 1e-3) and a linear probe of
    the codings, over `seeds` seeds; with `reconstruction_weight`, also both networks trained
    while they keep reconstructing the training images (see few_label_experiment). Written to
    RUN/pretraining-LABELS.json (see pretraining_file)."""
    from aegan.evaluation.pretraining import few_label_experiment, summarise

    run = as_run(run)
    run._require_encoder("train a classifier on")
    if not run.spec.has_labels:
        raise AeganError(f"{run.path} was trained on data without class labels: the few-label experiment needs "
                         "them (one subfolder per class, data.label_column, or labels in the npz)")
    splits = run.splits()
    spec = splits.spec

    def model_space(split):
        return Batches(split, spec, labels=False).all(), split.labels

    train_split, valid_split, test_split = (model_space(splits.split(name)) for name in ("train", "valid", "test"))
    if not (reconstruction_weight >= 0 and math.isfinite(reconstruction_weight)):
        raise AeganError(f"reconstruction weight {reconstruction_weight}: expected 0 (off) or a positive weight "
                         "of the autoencoder's loss, e.g. 3")
    if not 10 <= labels <= len(train_split[0]):
        raise AeganError(f"labels={labels}: expected between 10 and {len(train_split[0])} labelled training samples")
    results = []
    for seed in range(seeds):
        started = time.perf_counter()
        results.append(few_label_experiment(run.model, run.config.model, train_split, valid_split, test_split,
                                            labels=labels, seed=seed, epochs=epochs,
                                            fine_tune_learning_rate=fine_tune_learning_rate,
                                            reconstruction_weight=reconstruction_weight))
        log(f"{labels} labels, seed {seed}: " + ", ".join(f"{key.removesuffix('_test_accuracy')} {value:.4f}"
                                         for key, value in results[-1].items() if key.endswith("_test_accuracy"))
            + f" (test accuracy; {time.perf_counter() - started:.0f} s)")
    report = {"run": str(run.path), "preset": run.config.name, "labels": labels, "epochs_per_phase": epochs,
              "fine_tune_learning_rate": 1e-4 if fine_tune_learning_rate is None else fine_tune_learning_rate,
              "reconstruction_weight": reconstruction_weight,
              "seeds": results, **summarise(results)}
    atomic_write_json(run.path / pretraining_file(labels, fine_tune_learning_rate, reconstruction_weight), report)
    return report
