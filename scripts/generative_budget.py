"""Generative models at an equal wall-clock training budget: FID, KID, precision, recall, coverage
and classes covered beside their floors, with the sampling time per 1,000 images and sample grids.

    .venv/bin/python scripts/generative_budget.py --minutes 30 --n 2000                 # dcgan, ddpm
    .venv/bin/python scripts/generative_budget.py --minutes 30 --presets ddpm --steps 50 250

Trains each preset once per seed into runs/generative-budget/PRESET-Mmin-seedS for `--minutes` of
training (training.time_limit_minutes: GANs and diffusion; the autoencoders, the VAEs, train for
their preset's epochs, a few minutes at most, and the table gives their minutes), then
measures `--n` samples with `aegan evaluate` (a diffusion run once per `--steps`, DDIM), each in
the feature space of aegan's own classifier, and writes the table into docs/RESULTS.md (section
generative-budget-Mmin) with a grid of each row's samples under docs/images/. Finished runs and
evaluations are kept, so the script can be stopped and started again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

import numpy as np

import aegan
from aegan.api import evaluate
from aegan.evaluation.classifier import RECIPE
from aegan.plots import plot_image_grid
from results_page import write_section

ROOT = Path(__file__).resolve().parents[1]


def timed(preset: str) -> bool:
    """Whether the preset's loop takes a wall-clock budget (GANs, diffusion); autoencoders (the VAEs)
    train for their preset's epochs, and the table says how many minutes that took."""
    from aegan.config import load_config
    from aegan.models import FAMILIES

    return FAMILIES[load_config(preset).model.kind].training_loop != "autoencoder"


def trained(preset: str, minutes: float, seed: int) -> Path:
    budget = f"{minutes:g}min" if timed(preset) else "preset-epochs"
    out = ROOT / "runs" / "generative-budget" / f"{preset}-{budget}-seed{seed}"
    if timed(preset):
        finished = (out / "metrics.jsonl").is_file() and any("steps" in record for record in aegan.Run(out).metrics())
    else:
        finished = (out / "test.json").is_file()
    if not finished:
        if out.exists():
            shutil.rmtree(out)
        overrides = {"training.time_limit_minutes": minutes} if timed(preset) else {}
        aegan.train(preset, out=out, epochs=100_000 if timed(preset) else None, seed=seed, progress=False,
                    overrides=overrides)
    return out


def measured(run_dir: Path, n: int, steps: int | None) -> dict:
    path = run_dir / (f"evaluation-n{n}" + (f"-steps{steps}" if steps else "") + ".json")
    if path.is_file():
        result = json.loads(path.read_text())
        if result.get("feature_classifier_recipe") == RECIPE:
            return result
    result = evaluate(run_dir, n=n, steps=steps)
    shutil.copyfile(run_dir / "evaluation.json", path)
    return result


def budget_used(run_dir: Path) -> tuple[float, int, float]:
    """(training minutes, optimizer steps, epochs) of a run's metrics."""
    records = aegan.Run(run_dir).metrics()
    config = json.loads((run_dir / "config.json").read_text())
    batch = config["training"]["batch_size"]  # GANs and diffusion: whole batches; autoencoders: a last part batch
    full = 55_000 // batch if timed(config["name"]) else -(-55_000 // batch)
    steps = sum(record.get("steps", full) for record in records)
    return sum(record["seconds"] for record in records) / 60, steps, steps / full


def mean_sd(values: list[float], digits: int) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--presets", nargs="+", default=["vae", "conv_vae", "dcgan", "ddpm"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--n", type=int, default=2000, help="samples per evaluation (the floors use as many)")
    parser.add_argument("--steps", type=int, nargs="+", default=[50, 250], help="DDIM steps of diffusion runs")
    args = parser.parse_args()
    rows, grids, floor = [], [], None
    for preset in args.presets:
        runs = [trained(preset, args.minutes, seed) for seed in args.seeds]
        diffusion = aegan.Run(runs[0]).config.model.kind == "ddpm"
        for steps in (args.steps if diffusion else [None]):
            results = [measured(run, args.n, steps) for run in runs]
            floor = results[0]
            used = [budget_used(run) for run in runs]
            stat = {key: mean_sd([r[key] for r in results], digits) for key, digits in (
                ("fid", 1), ("kid", 2), ("precision", 3), ("recall", 3), ("coverage", 3), ("classes_covered", 1),
                ("class_kl_to_test", 3), ("sampling_seconds_per_1000", 2))}
            sampler = f"DDIM, {steps} steps" if steps else "one pass"
            rows.append(f"| {preset} ({sampler}) | {stat['fid']} | {stat['kid']} | {stat['precision']} | "
                        f"{stat['recall']} | {stat['coverage']} | {stat['classes_covered']} | "
                        f"{stat['class_kl_to_test']} | {stat['sampling_seconds_per_1000']} | "
                        f"{mean_sd([u[0] for u in used], 1)} | {mean_sd([u[1] for u in used], 0)} "
                        f"({statistics.mean(u[2] for u in used):.1f} epochs) |")
            print(rows[-1], flush=True)
            grids.append(aegan.sample(aegan.Run(runs[0]), 10, seed=0, **({"steps": steps} if steps else {})))
    section = f"generative-budget-{args.minutes:g}min"
    image = ROOT / "docs" / "images" / f"{section}.png"
    plot_image_grid(np.stack(grids), image, title=f"10 samples per row (table order), seed {args.seeds[0]}, "
                                                  f"{args.minutes:g} minutes of training")
    seeds = ", ".join(map(str, args.seeds))
    table = "\n".join([
        f"## Generative models at {args.minutes:g} minutes of training each (seeds {seeds})\n",
        f"Made by `.venv/bin/python scripts/generative_budget.py --minutes {args.minutes:g} --n {args.n} "
        f"--presets {' '.join(args.presets)} --seeds {' '.join(map(str, args.seeds))}` on a 2-core CPU, one job at a "
        f"time; {args.n:,} samples per row against as many test images, in the feature space of aegan's own "
        "classifier (KID: the unbiased polynomial-kernel MMD², over subsets of 1,000). Training minutes are the loop's own (per-epoch sample grids and checkpoints "
        "included; the VAEs train for their preset's epochs, which take less); sampling seconds are per 1,000 "
        "samples on the same CPU.\n",
        "| preset (sampler) | FID | KID | precision | recall | coverage | classes covered | class KL to test | "
        "sampling s / 1,000 | training minutes | steps |",
        "|---|---|---|---|---|---|---|---|---|---|---|", *rows,
        f"| floor: {args.n:,} training vs test images | {floor['fid_floor']:.1f} | {floor['kid_floor']:.2f} | "
        f"{floor['precision_floor']:.3f} | {floor['recall_floor']:.3f} | {floor['coverage_floor']:.3f} | "
        f"{floor['classes_covered_floor']} | {floor['class_kl_to_test_floor']:.3f} | | | |",
        f"\n![samples of each row](images/{image.name})"])
    write_section(section, table)
    print(table)


if __name__ == "__main__":
    main()
