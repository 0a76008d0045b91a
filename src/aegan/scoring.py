"""Anomaly scores: how badly a run reconstructs each sample of some data (higher: more anomalous)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aegan.codings import as_run
from aegan.errors import AeganError


def score(run, data: str | os.PathLike, out: str | os.PathLike | None = None,
          contamination: float = 0.05) -> tuple[Path, np.ndarray]:
    """Score every sample of `data` (a file or folder like the run's training data) by its
    reconstruction error; write a CSV (index, path for folders, score, outlier), highest score
    first. A table keeps the run's standardisation and leaves out its label column.
    Returns (the CSV's path, the scores in the data's order)."""
    from aegan.data.sources import read_for_run
    from aegan.evaluation.anomaly import reconstruction_errors, write_scores_csv

    run = as_run(run)
    run._require("score", "score samples")
    if not 0 < contamination <= 0.5:
        raise AeganError(f"--contamination {contamination}: expected a fraction in (0, 0.5], e.g. 0.05")
    split, spec = read_for_run(str(data), run.spec, run.config.data)
    samples = run._check_shape(np.asarray(split.samples))
    scores = reconstruction_errors(run.model, spec, samples)
    out = Path(out) if out else run.path / "scores.csv"
    write_scores_csv(out, scores, contamination, paths=split.paths or None)
    return out, scores
