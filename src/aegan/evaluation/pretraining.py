"""Unsupervised pretraining with few labels: a classifier from scratch against one that reuses
a trained autoencoder's encoder (frozen first, then fine-tuned), and a linear probe.

Both classifiers are the same network: the run's encoder, then Dense 20 selu and a softmax
over the data's classes (the seed notebook's head). "scratch" starts from a fresh
initialisation of the encoder; "reused" starts from the run's trained weights (a copy: the run
is not changed), trains the head with the encoder frozen (batch norm statistics too), then
unfreezes everything at its own learning rate (a tenth of the head's unless given). Scratch
trains for as many steps as the two phases together. "probe": logistic regression on the
standardised codings of the labelled images, the encoder untouched. Each arm's training
seconds are recorded beside its accuracy.

With a `reconstruction_weight` two more arms keep the autoencoder's own task while they learn
the labels (semi-supervised): each step adds that weight times the autoencoder's loss on a
batch of training images drawn at random, labelled or not. "reconstructing" fine-tunes the
reused network that way after the same frozen phase; "scratch_reconstructing" trains a fresh
network that way, the control that shows how much of the gain is the pretraining's.
"""

from __future__ import annotations

import copy
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aegan.models import build_model


class EncoderClassifier(nn.Module):
    """An autoencoder's encoder (its codings; a VAE's posterior means) + Dense 20 selu + Dense num_classes."""

    def __init__(self, autoencoder: nn.Module, coding_dimensions: int, num_classes: int, hidden_units: int = 20):
        super().__init__()
        self.autoencoder = autoencoder
        self.head = nn.Sequential(nn.Linear(coding_dimensions, hidden_units), nn.SELU(),
                                  nn.Linear(hidden_units, num_classes))

    def encoder_parameters(self) -> list[nn.Parameter]:
        return list(self.autoencoder.parameters())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        codings = self.autoencoder.encode(images)
        codings = codings[0] if isinstance(codings, tuple) else codings
        return self.head(codings.flatten(1))


def build_classifier(run_model: nn.Module, model_config, reuse: bool, seed: int, sample_shape: tuple[int, ...],
                     num_classes: int) -> EncoderClassifier:
    """The classifier on a copy of the run's trained model (reuse) or on a fresh one; the coding
    size comes from encoding one zero sample of `sample_shape`."""
    if not getattr(model_config, "resolved", True):  # "from the data" sizes: the run's model has them
        model_config = run_model.config
    torch.manual_seed(seed)
    autoencoder = copy.deepcopy(run_model) if reuse else build_model(model_config)
    was_training = autoencoder.training
    with torch.no_grad():  # in evaluation mode: batch norm cannot take the statistics of one sample
        coding_dimensions = _codings(autoencoder.eval(), torch.zeros(1, *sample_shape)).shape[1]
    autoencoder.train(was_training)
    return EncoderClassifier(autoencoder, coding_dimensions, num_classes)


def _codings(autoencoder: nn.Module, images: torch.Tensor) -> torch.Tensor:
    codings = autoencoder.encode(images)
    return (codings[0] if isinstance(codings, tuple) else codings).flatten(1)


def _fit(model: EncoderClassifier, parameters, images, labels, epochs: int, learning_rate: float,
         batch_size: int, generator: torch.Generator, frozen_encoder: bool = False,
         reconstruct=None) -> None:
    """Adam on the cross-entropy of the labelled images; `reconstruct(autoencoder, generator)`, if
    given, returns a weighted autoencoder loss added to every step's."""
    optimizer = torch.optim.Adam(parameters, lr=learning_rate)
    model.train()
    if frozen_encoder:  # a frozen encoder keeps its batch-norm statistics as well as its weights
        model.autoencoder.eval()
    for _ in range(epochs):
        permutation = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), batch_size):
            batch = permutation[start:start + batch_size]
            if len(batch) == 1 and len(images) > 1:  # batch norm cannot train on one sample: it waits a round
                continue
            loss = F.cross_entropy(model(images[batch]), labels[batch])
            if reconstruct is not None:
                loss = loss + reconstruct(model.autoencoder, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def _unit_scaled(batch) -> torch.Tensor:
    """Without a DataSpec: uint8 samples / 255, floats as they are."""
    tensor = batch.clone() if torch.is_tensor(batch) else torch.from_numpy(np.array(batch))
    return tensor.float().div_(255.0) if tensor.dtype == torch.uint8 else tensor.float()


@torch.no_grad()
def accuracy(model: EncoderClassifier, samples, labels: np.ndarray, to_model=_unit_scaled,
             batch_size: int = 2500) -> float:
    """Accuracy on stored samples, converted to model inputs with `to_model` one batch at a time."""
    model.eval()
    predictions = torch.cat([model(to_model(samples[np.arange(i, min(i + batch_size, len(samples)))])).argmax(1)
                             for i in range(0, len(samples), batch_size)])
    return float((predictions.numpy() == np.asarray(labels)).mean())


@torch.no_grad()
def _probe(run_model: nn.Module, images: torch.Tensor, targets: torch.Tensor, splits: dict, to_model) -> dict:
    """Logistic regression on the frozen codings of the labelled images: accuracy on each split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = copy.deepcopy(run_model).eval()

    def codings(samples, convert):
        return torch.cat([_codings(model, convert(samples[np.arange(i, min(i + 2500, len(samples)))]))
                          for i in range(0, len(samples), 2500)]).double().numpy()

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    probe.fit(codings(images, lambda batch: batch), targets.numpy())
    return {f"probe_{name}_accuracy": float(probe.score(codings(samples, to_model), np.asarray(labels)))
            for name, (samples, labels) in splits.items()}


def few_label_experiment(run_model: nn.Module, model_config, train: tuple, valid: tuple, test: tuple,
                         labels: int = 500, seed: int = 0, epochs: int = 20, learning_rate: float = 1e-3,
                         batch_size: int = 32, on_phase=None, spec=None, num_classes: int | None = None,
                         fine_tune_learning_rate: float | None = None, reconstruction_weight: float = 0.0,
                         reconstruction_batch_size: int = 128) -> dict:
    """Validation and test accuracy of scratch, reused-frozen, reused-fine-tuned and the linear
    probe for one seed, and each arm's training seconds.

    `train`, `valid`, `test` are (stored samples, labels); `labels` training samples are drawn at
    random (by `seed`) as the only labelled ones. With `spec` (the data's DataSpec) stored samples
    are converted with spec.to_model and the classes are spec's; without, samples are model inputs
    already (uint8 ones are divided by 255). `num_classes` defaults to spec's, else to one more
    than the largest label. `on_phase(name, classifier)`, if given, is called after each phase
    ("scratch", "frozen", "fine_tuned", and with a `reconstruction_weight` also
    "scratch_reconstructing" and "reconstructing"). Those arms add `reconstruction_weight` times
    the autoencoder's loss on `reconstruction_batch_size` training samples drawn at random.
    """
    on_phase = on_phase or (lambda name, model: None)
    to_model = spec.to_model if spec is not None else _unit_scaled
    sample_shape = tuple(spec.shape) if spec is not None else tuple(np.shape(train[0])[1:])
    if num_classes is None:
        num_classes = (spec.num_classes if spec is not None and spec.has_labels
                       else 1 + int(max(np.max(np.asarray(split[1])) for split in (train, valid, test))))
    chosen = np.random.default_rng(seed).choice(len(train[0]), size=labels, replace=False)
    images = to_model(train[0][chosen])
    targets = torch.from_numpy(np.asarray(train[1])[chosen].astype(np.int64))

    def scores(model, name):
        return {f"{name}_valid_accuracy": accuracy(model, valid[0], valid[1], to_model),
                f"{name}_test_accuracy": accuracy(model, test[0], test[1], to_model)}

    def classifier(reuse: bool) -> EncoderClassifier:
        return build_classifier(run_model, model_config, reuse, seed, sample_shape, num_classes)

    def reconstruct(autoencoder: nn.Module, generator: torch.Generator) -> torch.Tensor:
        drawn = torch.randint(len(train[0]), (reconstruction_batch_size,), generator=generator).numpy()
        return reconstruction_weight * autoencoder.loss_terms(to_model(train[0][drawn]))["loss"]

    result = {"seed": seed, "labels": labels}
    started = time.perf_counter()
    scratch = classifier(reuse=False)
    _fit(scratch, scratch.parameters(), images, targets, 2 * epochs, learning_rate, batch_size,
         torch.Generator().manual_seed(seed))
    result["scratch_seconds"] = time.perf_counter() - started
    result.update(scores(scratch, "scratch"))
    on_phase("scratch", scratch)

    started = time.perf_counter()
    reused = classifier(reuse=True)
    for parameter in reused.encoder_parameters():
        parameter.requires_grad_(False)
    _fit(reused, reused.head.parameters(), images, targets, epochs, learning_rate, batch_size,
         torch.Generator().manual_seed(seed), frozen_encoder=True)
    result["frozen_seconds"] = time.perf_counter() - started
    result.update(scores(reused, "frozen"))
    on_phase("frozen", reused)
    after_frozen = copy.deepcopy(reused) if reconstruction_weight else None
    rate = learning_rate / 10 if fine_tune_learning_rate is None else fine_tune_learning_rate

    def fine_tune(model: EncoderClassifier, name: str, **options) -> None:
        started = time.perf_counter()
        for parameter in model.encoder_parameters():
            parameter.requires_grad_(True)
        _fit(model, model.parameters(), images, targets, epochs, rate, batch_size,
             torch.Generator().manual_seed(seed + 1), **options)
        result[f"{name}_seconds"] = result["frozen_seconds"] + time.perf_counter() - started  # both phases
        result.update(scores(model, name))
        on_phase(name, model)

    fine_tune(reused, "fine_tuned")
    if reconstruction_weight:
        fine_tune(after_frozen, "reconstructing", reconstruct=reconstruct)
        started = time.perf_counter()
        control = classifier(reuse=False)
        _fit(control, control.parameters(), images, targets, 2 * epochs, learning_rate, batch_size,
             torch.Generator().manual_seed(seed), reconstruct=reconstruct)
        result["scratch_reconstructing_seconds"] = time.perf_counter() - started
        result.update(scores(control, "scratch_reconstructing"))
        on_phase("scratch_reconstructing", control)

    started = time.perf_counter()
    result.update(_probe(run_model, images, targets, {"valid": valid, "test": test}, to_model))
    result["probe_seconds"] = time.perf_counter() - started
    return result


def summarise(results: list[dict]) -> dict:
    """Mean and standard deviation over seeds of every accuracy."""
    summary = {}
    for key in results[0]:
        if key.endswith(("_accuracy", "_seconds")):
            values = [r[key] for r in results]
            summary[f"{key}_mean"] = statistics.fmean(values)
            summary[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return summary
