"""Anomaly scores: how badly an autoencoder reconstructs each sample.

A sample's score is the mean over its features of the model's own reconstruction loss, in
model space (binary cross-entropy for a model trained with it, else squared error). A VAE
reconstructs from its posterior mean. The top `contamination` share of scores are flagged as
outliers.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aegan.errors import AeganError
from aegan.files import atomic_write_bytes


def _uses_cross_entropy(model) -> bool:
    return getattr(model.config, "reconstruction_loss", "binary_crossentropy") == "binary_crossentropy"


def _decodes_logits(model) -> bool:
    """Whether decode_logits gives the pre-sigmoid values (decode = sigmoid of them)."""
    return (callable(getattr(model, "decode_logits", None))
            and getattr(model, "output_activation", "sigmoid") == "sigmoid")


def _batch_errors(model, x: torch.Tensor) -> torch.Tensor:
    codings = model.encode(x)
    codings = codings[0] if isinstance(codings, tuple) else codings  # a VAE: the posterior mean
    target = x.reshape(len(x), -1)
    if _uses_cross_entropy(model) and _decodes_logits(model):
        logits = model.decode_logits(codings).reshape(len(x), -1)
        loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    elif _uses_cross_entropy(model):
        outputs = model.decode(codings).reshape(len(x), -1).clamp(1e-7, 1 - 1e-7)
        loss = F.binary_cross_entropy(outputs, target, reduction="none")
    else:
        loss = (model.decode(codings).reshape(len(x), -1) - target).square()
    return loss.mean(dim=1)


@torch.no_grad()
def reconstruction_errors(model, spec, samples, batch_size: int = 1024) -> np.ndarray:
    """Per-sample reconstruction error (float64, one per sample, in the samples' order) of stored
    samples (N, *spec.shape), converted with spec.to_model one batch at a time."""
    if not callable(getattr(model, "encode", None)):
        raise AeganError(f"a {type(model).__name__} has no encoder: anomaly scores need an autoencoder")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        errors = [_batch_errors(model, spec.to_model(np.asarray(samples[np.arange(start, stop)]))
                                .reshape(stop - start, *spec.shape).to(device)).cpu()
                  for start, stop in _ranges(len(samples), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(errors).double().numpy() if errors else np.zeros(0)


def _ranges(count: int, batch_size: int):
    return [(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]


def outlier_flags(scores: np.ndarray, contamination: float) -> np.ndarray:
    """True for the round(contamination x N) highest scores (at least one; ties: the earlier sample)."""
    if not 0 < contamination <= 0.5:
        raise AeganError(f"contamination={contamination}: expected a share in (0, 0.5]")
    scores = np.asarray(scores)
    flags = np.zeros(len(scores), dtype=bool)
    if len(scores):
        count = max(1, math.floor(contamination * len(scores) + 0.5))
        flags[np.argsort(-scores, kind="stable")[:count]] = True
    return flags


def write_scores_csv(path: str | os.PathLike, scores: np.ndarray, contamination: float,
                     paths=None) -> Path:
    """A CSV of index, path (with `paths`), score and outlier (1 or 0), highest score first; index is
    the sample's position in the scored data. Written atomically."""
    scores = np.asarray(scores, dtype=np.float64)
    if paths is not None and len(paths) != len(scores):
        raise AeganError(f"{len(paths)} paths for {len(scores)} scores")
    flags = outlier_flags(scores, contamination)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", *(["path"] if paths is not None else []), "score", "outlier"])
    for index in np.argsort(-scores, kind="stable"):
        where = [paths[index]] if paths is not None else []
        writer.writerow([int(index), *where, repr(float(scores[index])), int(flags[index])])
    return atomic_write_bytes(path, buffer.getvalue().encode())
