"""Mode coverage of GANs, option by option: classes covered, class KL, FID, precision and recall.

    .venv/bin/python scripts/mode_coverage.py                       # the seed's GAN, 3 variants, 5 epochs, 3 seeds
    .venv/bin/python scripts/mode_coverage.py --architecture gan --minutes 2 --seeds 0      # screen every option
    .venv/bin/python scripts/mode_coverage.py --architecture gan --minutes 2 --variants gan hinge "pack 2"

Trains each variant for each seed into runs/mode-coverage/, either for `--epochs` or for a fixed
wall-clock budget of `--minutes` (training.time_limit_minutes; evaluation not counted), measures
10,000 samples with `aegan evaluate` (classes covered, KL of the class histogram to the test
set's, FID, precision and recall in the feature space of aegan's own classifier, each beside the
floor of 10,000 real training images) and writes the table into docs/RESULTS.md: the section
`mode-coverage` for the epoch-budget table, `mode-coverage-<architecture>-<minutes>min` for a
time budget (`...-selected` for a chosen `--variants` set), with a grid of each variant's samples (seed of the first run) under docs/images/.
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
ADAM_GAN = {"training.optimizer": "adam", "training.betas": [0.5, 0.999]}
WGAN_GP = {"training.gan_loss": "wasserstein", "training.gradient_penalty": 10.0, "training.critic_steps": 5,
           "training.optimizer": "adam", "training.learning_rate": 1e-4, "training.betas": [0.0, 0.9]}
OPTIONS = {  # each option alone, on top of the architecture's preset
    "replay": {"training.replay_pool_batches": 50, "training.replay_probability": 0.5},
    "minibatch discrimination": {"model.minibatch_kernels": 16},
    "minimax loss": {"training.gan_loss": "minimax"},
    "hinge": {"training.gan_loss": "hinge"},
    "least squares": {"training.gan_loss": "least_squares"},
    "wgan-gp": WGAN_GP,
    "spectral norm": {"model.spectral_norm": True},
    "r1": {"training.r1_penalty": 1.0},
    "pack 2": {"model.pack": 2},
    "minibatch std": {"model.minibatch_std": True},
    "ema 0.999": {"training.ema_decay": 0.999},
    "ema 0.99": {"training.ema_decay": 0.99},
    "diffaugment": {"training.augment": ["translation", "cutout"]},
    "adam": {**ADAM_GAN, "training.learning_rate": 2e-4},
    "two timescales (adam)": {**ADAM_GAN, "training.generator_learning_rate": 1e-4,
                              "training.discriminator_learning_rate": 4e-4},
    "learning rate 5e-4": {"training.learning_rate": 5e-4},
    "learning rate 2e-3": {"training.learning_rate": 2e-3},
    "batch 64": {"training.batch_size": 64},
}
ARCHITECTURES = {"gan": "gan", "dcgan": "dcgan"}


def variants(architecture: str, names: list[str] | None) -> dict[str, dict]:
    table = {architecture: {}, **{f"{architecture} + {name}": overrides for name, overrides in OPTIONS.items()}}
    if architecture == "dcgan":  # the WGAN-GP critic has neither batch norm nor dropout
        table[f"{architecture} + wgan-gp"] = {**WGAN_GP, "model.discriminator_batch_norm": False, "model.dropout": 0.0}
    if not names:
        return table
    chosen = {}
    for name in names:  # "hinge", "gan + hinge", or a combination "hinge, pack 2"
        parts = [part.strip() for part in name.split(",")]
        if parts == [architecture]:
            chosen[architecture] = {}
            continue
        overrides = {}
        for part in parts:
            key = f"{architecture} + {part}"
            if key not in table:
                raise SystemExit(f"unknown variant {part!r}: expected one of {', '.join(OPTIONS)}")
            overrides.update(table[key])
        chosen[f"{architecture} + {' + '.join(parts)}"] = overrides
    return chosen


def train_and_measure(preset: str, name: str, overrides: dict, seed: int, epochs: int | None,
                      minutes: float | None) -> dict:
    budget = f"{minutes:g}min" if minutes else f"{epochs}ep"
    slug = name.replace(" + ", "-").replace(" ", "").replace(",", "")
    out = ROOT / "runs" / "mode-coverage" / f"{slug}-{budget}-seed{seed}"
    overrides = dict(overrides)
    if minutes:
        overrides["training.time_limit_minutes"] = minutes
    done = (out / "evaluation.json").is_file() and json.loads((out / "evaluation.json").read_text()).get(
        "feature_classifier_recipe") == RECIPE
    if not done:
        if not trained(out, epochs, minutes):
            if out.exists():
                shutil.rmtree(out)
            aegan.train(preset, out=out, epochs=epochs or 10_000, seed=seed, overrides=overrides, progress=False)
        evaluate(out)
    result = json.loads((out / "evaluation.json").read_text())
    metrics = aegan.Run(out).metrics()
    result["train_minutes"] = sum(record["seconds"] for record in metrics) / 60
    result["steps"] = sum(record.get("steps", full_epoch_steps(out)) for record in metrics)
    result["path"] = out
    return result


def trained(out: Path, epochs: int | None, minutes: float | None) -> bool:
    """Whether `out` holds a finished run: its time ran out, or it trained its epochs (an
    evaluation can then be made again without training again)."""
    if not (out / "metrics.jsonl").is_file() or not (out / "checkpoints").is_dir():
        return False
    records = aegan.Run(out).metrics()
    return any("steps" in record for record in records) if minutes else len(records) >= (epochs or 0)


def full_epoch_steps(run_dir: Path) -> int:
    """Steps in a whole epoch: Fashion-MNIST's 55,000 training images in whole batches."""
    return 55_000 // json.loads((run_dir / "config.json").read_text())["training"]["batch_size"]


def mean_sd(values: list[float], digits: int) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architecture", choices=list(ARCHITECTURES), default="gan")
    parser.add_argument("--epochs", type=int, default=None, help="an epoch budget (default 5 without --minutes)")
    parser.add_argument("--minutes", type=float, default=None, help="a wall-clock training budget per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=None,
                        help="option names (see OPTIONS), or combinations as 'hinge, pack 2'; default: "
                             "the three of the chapter's table with --epochs, every option with --minutes")
    parser.add_argument("--section", default="selected",
                        help="with --variants and --minutes: the results page's section is "
                             "mode-coverage-ARCHITECTURE-Mmin-SECTION (default: selected; '' for the section "
                             "of every option)")
    args = parser.parse_args()
    if args.minutes is None and args.epochs is None:
        args.epochs = 5
    names = args.variants
    if names is None and not args.minutes:
        names = [args.architecture, "replay", "minibatch discrimination"]
    preset = ARCHITECTURES[args.architecture]
    rows, grids = [], []
    floor = None
    for name, overrides in variants(args.architecture, names).items():
        results = [train_and_measure(preset, name, overrides, seed, args.epochs, args.minutes) for seed in args.seeds]
        floor = results[0]
        stat = {key: mean_sd([r[key] for r in results], digits) for key, digits in
                (("classes_covered", 1), ("class_kl_to_test", 3), ("fid", 1), ("precision", 3), ("recall", 3),
                 ("train_minutes", 1), ("steps", 0))}
        full = sum(r["classes_covered"] == 10 for r in results)
        per_seed = " / ".join(f"{r['fid']:.1f}" for r in results)  # paired by seed across the rows
        rows.append(f"| {name} | {stat['classes_covered']} | {full}/{len(results)} | {stat['class_kl_to_test']} | "
                    f"{stat['fid']} | {per_seed} | {stat['precision']} | {stat['recall']} | {stat['train_minutes']} | "
                    f"{stat['steps']} |")
        print(rows[-1], flush=True)
        samples = aegan.sample(aegan.Run(results[0]["path"]), 8, seed=0)
        grids.append((name, samples))
    budget = f"{args.minutes:g} minutes of training per run" if args.minutes else f"{args.epochs} epochs"
    section = f"mode-coverage-{args.architecture}-{args.minutes:g}min" if args.minutes else "mode-coverage"
    if args.variants and args.minutes and args.section:  # a chosen set gets a section of its own
        section += f"-{args.section}"
    image = ROOT / "docs" / "images" / f"{section}.png"
    grid = np.stack([samples for _, samples in grids])
    plot_image_grid(grid, image, title=f"{args.architecture}: 8 samples per variant (rows in table order), "
                                      f"seed {args.seeds[0]}, {budget}")
    table = "\n".join([
        f"## Mode coverage of the {args.architecture} architecture, option by option ({budget}, "
        f"seeds {', '.join(map(str, args.seeds))})\n",
        f"Made by `.venv/bin/python scripts/mode_coverage.py --architecture {args.architecture} "
        + (f"--minutes {args.minutes:g}" if args.minutes else f"--epochs {args.epochs}")
        + f" --seeds {' '.join(map(str, args.seeds))}`"
        + (" with `--variants`" if args.variants else "") + " on a 2-core CPU; 10,000 samples per run, "
        "mean ± standard deviation over seeds (and each seed's FID, in the order of the seeds), in the feature "
        "space of aegan's own classifier. "
        "Training minutes are the loop's own (sample grids and checkpoints included, evaluation not); steps are "
        "the generator steps taken in them (one per batch of reals), fewer when the machine is busy.\n",
        "| variant | classes covered | runs with 10/10 | class KL to test | FID | FID per seed | precision | recall "
        "| training minutes | steps |",
        "|---|---|---|---|---|---|---|---|---|---|", *rows,
        f"| floor: 10,000 training vs test images | {floor['classes_covered_floor']} | | "
        f"{floor['class_kl_to_test_floor']:.3f} | {floor['fid_floor']:.1f} | | {floor['precision_floor']:.3f} | "
        f"{floor['recall_floor']:.3f} | | |",
        f"\n![samples of each variant](images/{image.name})"])
    write_section(section, table)
    print(table)


if __name__ == "__main__":
    main()
