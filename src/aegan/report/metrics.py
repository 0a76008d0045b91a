"""Metrics beside their floors: test.json, evaluation.json and pretraining.json of a run, and the
summary row that compares runs.

A floor (or baseline) is what the run's measure is compared with, as `aegan evaluate` records it:
`KEY_floor` for the generative metrics (the same metric for real training samples), `pca_KEY`
for the representation probes (PCA with as many components), and `pca_mse` beside a linear
autoencoder's `autoencoder_mse`.
"""

from __future__ import annotations

import json
from pathlib import Path

# what a recorded key is, not a measure
DESCRIPTIVE_KEYS = ("run", "preset", "split", "epoch", "data", "feature_classifier_recipe", "activation_histogram",
                    "representation_metrics", "generative_metrics", "pca_components", "tsne_points", "samples")
# baselines that are not named KEY_floor: measure -> (baseline key, what the baseline is)
BASELINES = {
    "linear_probe_accuracy": ("pca_linear_probe_accuracy", "PCA"),
    "knn_accuracy": ("pca_knn_accuracy", "PCA"),
    "autoencoder_mse": ("pca_mse", "PCA"),
}
FLOOR_SUFFIX = "_floor"
REAL_DATA_FLOOR = "the same measure for as many real training samples (generative metrics)"


def read_json(path: Path) -> dict | None:
    """A JSON object from the run folder, or None when it is missing or damaged."""
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def measure_rows(results: dict) -> tuple[list[list], list[str]]:
    """[measure, value, floor] for each measure in `results`, and what the floors in them are."""
    baseline_keys = {key for key, _ in BASELINES.values()}
    rows, floors = [], []
    for key, value in results.items():
        if key in DESCRIPTIVE_KEYS or key.endswith(FLOOR_SUFFIX) or key in baseline_keys or isinstance(value, dict):
            continue
        if f"{key}{FLOOR_SUFFIX}" in results:
            rows.append([key, value, results[f"{key}{FLOOR_SUFFIX}"]])
            floors.append(REAL_DATA_FLOOR)
        elif key in BASELINES and BASELINES[key][0] in results:
            baseline, what = BASELINES[key]
            rows.append([key, value, results[baseline]])
            components = results.get("pca_components")
            floors.append(f"{what}{f' with {components} components' if components else ''} (probes, MSE)")
        else:
            rows.append([key, value, None])
    return rows, list(dict.fromkeys(floors))


def pretraining_rows(report: dict) -> tuple[list[list], list[str]]:
    """The few-label experiment: test accuracy of each classifier, from scratch as the floor."""
    scratch = report.get("scratch_test_accuracy_mean")
    rows = [[f"{name} encoder: test accuracy", report[f"{name}_test_accuracy_mean"], scratch]
            for name in ("frozen", "fine_tuned", "probe") if report.get(f"{name}_test_accuracy_mean") is not None]
    return rows, [f"a classifier trained from scratch on the same {report.get('labels')} labels"]


def metric_tables(run_path: Path) -> list[tuple[str, list[list], list[str]]]:
    """(title, rows, what the floors are) of each result file the run holds."""
    tables = []
    test = read_json(run_path / "test.json")
    if test:
        tables.append(("test split (at the end of training)", *measure_rows(test)))
    evaluation = read_json(run_path / "evaluation.json")
    if evaluation:
        title = f"aegan evaluate ({evaluation.get('split', 'test')} split, epoch {evaluation.get('epoch', '?')})"
        tables.append((title, *measure_rows(evaluation)))
    for path in sorted(run_path.glob("pretraining*.json")):  # pretraining-LABELS.json (pretraining.json: older runs)
        pretraining = read_json(path)
        if pretraining:
            rate = pretraining.get("fine_tune_learning_rate")
            tables.append((f"aegan classify ({pretraining.get('labels')} labels"
                           + (f", fine-tuned at {rate:g})" if rate is not None else ")"), *pretraining_rows(pretraining)))
    return [table for table in tables if table[1]]


def last_value(records: list[dict], key: str):
    for record in reversed(records):
        if isinstance(record.get(key), (int, float)):
            return record[key]
    return None


def with_floor(results: dict | None, key: str):
    """`key`'s value, as text with its floor or PCA baseline in parentheses where one is recorded."""
    if not results or key not in results:
        return None
    value = results[key]
    baseline = results.get(f"{key}{FLOOR_SUFFIX}", results.get(BASELINES.get(key, ("",))[0]))
    if baseline is None or not isinstance(value, (int, float)):
        return value
    return f"{value:.4g} ({baseline:.4g})"


def summary_row(run) -> dict:
    """The key measures of one run, by column name (None where the run has no such measure)."""
    records = run.metrics()
    test = read_json(run.path / "test.json") or {}
    evaluation = read_json(run.path / "evaluation.json")
    row = {
        "model": f"{run.config.name} ({run.config.model.kind})",
        "epochs": run.epoch,
        "parameters": sum(parameter.numel() for parameter in run.model.parameters()),
        "train loss": last_value(records, "loss"),
        "val loss": last_value(records, "val_loss"),
        "test loss": test.get("loss"),
        "test rounded accuracy": test.get("rounded_accuracy"),
        "negative ELBO (nats)": test.get("negative_elbo_nats"),
        "D loss": last_value(records, "d_loss"),
        "G loss": last_value(records, "g_loss"),
        "linear probe (PCA)": with_floor(evaluation, "linear_probe_accuracy"),
        "FID (floor)": with_floor(evaluation, "fid"),
    }
    return row


def summary_rows(titles: list[str], rows: list[dict]) -> tuple[list[str], list[list]]:
    """A header and one row per run, with only the columns some run has, in summary_row's order."""
    columns = [key for key in rows[0] if any(row.get(key) is not None for row in rows)]
    return ["run", *columns], [[title, *(row.get(column) for column in columns)] for title, row in zip(titles, rows)]
