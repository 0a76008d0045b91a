"""Mode coverage of the simple GAN alone, with experience replay, and with minibatch discrimination.

    .venv/bin/python scripts/mode_coverage.py [--epochs 5] [--seeds 0 1 2]

Trains each variant for each seed into runs/mode-coverage/, measures 10,000 samples with
`aegan evaluate` (classes covered, KL of the class histogram to the test set's and to
uniform, FID in aegan's feature space) and writes the table into docs/RESULTS.md (its own section).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

import aegan
from aegan.api import evaluate
from aegan.evaluation.classifier import RECIPE
from results_page import write_section

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "gan": {},
    "gan + replay": {"training.replay_pool_batches": 50, "training.replay_probability": 0.5},
    "gan + minibatch discrimination": {"model.minibatch_kernels": 16},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    rows = []
    for name, overrides in VARIANTS.items():
        results = []
        for seed in args.seeds:
            out = ROOT / "runs" / "mode-coverage" / f"{name.replace(' ', '').replace('+', '-')}-seed{seed}"
            trained = (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir())
            if not trained or len(aegan.Run(out).metrics()) < args.epochs:
                if out.exists():
                    shutil.rmtree(out)
                aegan.train("gan", out=out, epochs=args.epochs, seed=seed, overrides=overrides, progress=False)
            saved = json.loads((out / "evaluation.json").read_text()) if (out / "evaluation.json").is_file() else {}
            # measured again when the feature classifier's recipe changed since
            results.append(saved if saved.get("feature_classifier_recipe") == RECIPE else evaluate(out))
        def stat(key):
            values = [r[key] for r in results]
            return f"{statistics.mean(values):.3f} ± {statistics.stdev(values) if len(values) > 1 else 0:.3f}"
        rows.append(f"| {name} | {stat('classes_covered')} | {stat('class_kl_to_test')} | "
                    f"{stat('class_kl_to_uniform')} | {stat('fid')} | {stat('coverage')} |")
        print(rows[-1], flush=True)
    floor = results[-1]
    table = "\n".join([
        f"## Mode coverage of the simple GAN ({args.epochs} epochs, seeds {', '.join(map(str, args.seeds))})\n",
        "Made by `.venv/bin/python scripts/mode_coverage.py`; 10,000 samples per run, mean ± standard deviation "
        "over seeds; metrics in the feature space of aegan's own classifier.\n",
        "| variant | classes covered | class KL to test | class KL to uniform | FID | coverage |",
        "|---|---|---|---|---|---|", *rows,
        f"| floor: 10,000 training vs test images | {floor['classes_covered_floor']} | "
        f"{floor['class_kl_to_test_floor']:.3f} | {floor['class_kl_to_uniform_floor']:.3f} | "
        f"{floor['fid_floor']:.3f} | {floor['coverage_floor']:.3f} |"])
    write_section("mode-coverage", table)
    print(table)


if __name__ == "__main__":
    main()
