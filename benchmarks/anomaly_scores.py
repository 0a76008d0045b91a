"""`aegan score` against scikit-learn's IsolationForest on real tables with planted outliers.

    .venv/bin/python benchmarks/anomaly_scores.py [--seeds 3] [--results]

For each real table that scikit-learn ships (breast cancer: 569 x 30; handwritten digits as
rows of 64 pixels: 1,797 x 64), in each seed: 70% of the rows are written to train.csv; the
other 30% go to test.csv together with planted outliers (5% of the test rows' count), each a
row whose every column is copied from a different random real row, so each value is ordinary
and only the combination is not. A `stacked_ae` is trained on train.csv with the CLI's API
(`aegan.train`, then `aegan.score` on test.csv, the run's standardisation reused), and an
IsolationForest is fitted on the same training rows and scores the same test rows. The ROC
AUC of both, per data set, mean and standard deviation over the seeds, is printed (and written
into docs/RESULTS.md with --results).
"""

from __future__ import annotations

import argparse
import csv
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

AUTOENCODER = {"training.num_epochs": 60, "training.batch_size": 32, "training.learning_rate": 0.05,
               "model.hidden_sizes": [32], "model.coding_size": 6, "data.label_column": "label"}


def tables() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_breast_cancer, load_digits

    cancer, digits = load_breast_cancer(), load_digits()
    return {"breast cancer (569 x 30)": (cancer.data, cancer.target),
            "digits (1,797 x 64)": (digits.data, digits.target)}


def write_csv(path: Path, rows: np.ndarray, labels: np.ndarray) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"f{i}" for i in range(rows.shape[1])] + ["label"])
        for row, label in zip(rows, labels):
            writer.writerow([repr(float(v)) for v in row] + [int(label)])
    return path


def planted(rows: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Rows whose columns each come from a different random real row."""
    picks = rng.integers(0, len(rows), size=(count, rows.shape[1]))
    return rows[picks, np.arange(rows.shape[1])[None, :]]


def one_seed(name: str, data: np.ndarray, labels: np.ndarray, seed: int, folder: Path) -> dict:
    import aegan
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data))
    cut = int(0.7 * len(data))
    train, test = order[:cut], order[cut:]
    outliers = planted(data[train], max(1, round(0.05 * len(test))), rng)
    test_rows = np.concatenate([data[test], outliers])
    truth = np.r_[np.zeros(len(test)), np.ones(len(outliers))]
    test_labels = np.r_[labels[test], np.zeros(len(outliers), dtype=labels.dtype)]
    tag = f"{name.split()[0]}-{seed}"
    train_csv = write_csv(folder / f"{tag}-train.csv", data[train], labels[train])
    test_csv = write_csv(folder / f"{tag}-test.csv", test_rows, test_labels)
    started = time.perf_counter()
    run = aegan.train("stacked_ae", data=train_csv, out=folder / f"{tag}-run", seed=seed, overrides=AUTOENCODER,
                      progress=False, log=lambda message: None)
    _, scores = aegan.score(run, test_csv, out=folder / f"{tag}-scores.csv", contamination=0.05)
    aegan_seconds = time.perf_counter() - started
    started = time.perf_counter()
    forest = IsolationForest(random_state=seed).fit(data[train])
    forest_scores = -forest.score_samples(test_rows)
    forest_seconds = time.perf_counter() - started
    return {"aegan": roc_auc_score(truth, scores), "isolation_forest": roc_auc_score(truth, forest_scores),
            "aegan_seconds": aegan_seconds, "forest_seconds": forest_seconds, "outliers": len(outliers),
            "inliers": len(test)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--results", action="store_true", help="write the table into docs/RESULTS.md")
    args = parser.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    lines = [f"ROC AUC of planted outliers, {args.seeds} seeds (mean +- sd); CPU: {cpu}", "",
             "| data | test rows (inliers + planted) | aegan score (stacked_ae) | IsolationForest | seconds (aegan / forest) |",
             "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="anomaly-") as temporary:
        for name, (data, labels) in tables().items():
            results = [one_seed(name, data, labels, seed, Path(temporary)) for seed in range(args.seeds)]

            def cell(key):
                values = [r[key] for r in results]
                spread = statistics.stdev(values) if len(values) > 1 else 0.0
                return f"{statistics.fmean(values):.3f} +- {spread:.3f}"

            seconds = (f"{statistics.fmean(r['aegan_seconds'] for r in results):.1f} / "
                       f"{statistics.fmean(r['forest_seconds'] for r in results):.2f}")
            lines.append(f"| {name} | {results[0]['inliers']} + {results[0]['outliers']} | {cell('aegan')} | "
                         f"{cell('isolation_forest')} | {seconds} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.results:
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
        from results_page import write_section

        write_section("anomaly-scores", "## Anomaly scores against IsolationForest\n\n"
                      "`benchmarks/anomaly_scores.py --results`: " + __doc__.split("\n\n", 2)[2].strip()
                      + "\n\n" + text)


if __name__ == "__main__":
    main()
