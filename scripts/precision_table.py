"""How far bf16 (and fp16) move each preset's final metrics from fp32, and what they cost or save.

    .venv/bin/python scripts/precision_table.py                  # bf16 against fp32, on Fashion-MNIST
    .venv/bin/python scripts/precision_table.py --precisions bf16 fp16 --presets conv_ae

Trains each preset for a few epochs (PRESETS) in fp32 as users get it (with its hand-derived
fast step where there is one), in fp32 with autograd (the step mixed precision replaces), and
in each lower precision, all from the same seed, one job at a time, into runs/precision/. The
autoencoders are measured by their test loss (and rounded accuracy), the GANs by `aegan evaluate`
(FID and classes covered in aegan's own feature space). Writes the section `precision` of
docs/RESULTS.md, with the CPU's bf16 units named in its header.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import aegan
from aegan.api import evaluate
from aegan.runtime import cpu_description
from aegan.training.precision import cpu_bf16_units
from results_page import write_section

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {"stacked_ae": 5, "vae": 5, "conv_ae": 2, "conv_vae": 2, "gan": 5, "dcgan": 1}  # epochs each


def train(preset: str, epochs: int, precision: str, fast: bool) -> dict:
    name = f"{preset}-{precision}" + ("" if fast else "-autograd")
    out = ROOT / "runs" / "precision" / name
    if not (out / "checkpoints" / f"epoch-{epochs:04d}.json").is_file():
        if out.exists():
            import shutil

            shutil.rmtree(out)
        aegan.train(preset, out=out, epochs=epochs, progress=False,
                    overrides={"training.precision": precision, "training.fast_path": fast})
    run = aegan.Run(out)
    seconds = statistics.median(record["seconds"] for record in run.metrics())
    if (out / "test.json").is_file():
        test = json.loads((out / "test.json").read_text())
        metric = f"{test['loss']:.4f}" + (f" / {test['rounded_accuracy']:.4f}" if "rounded_accuracy" in test else "")
        value = test["loss"]
    else:
        result = json.loads((out / "evaluation.json").read_text()) if (out / "evaluation.json").is_file() \
            else evaluate(out)
        metric, value = f"{result['fid']:.1f} / {result['classes_covered']}", result["fid"]
    steps = json.loads((out / "run.json").read_text())["training_steps"]
    return {"metric": metric, "value": value, "seconds": seconds, "step": steps[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--precisions", nargs="+", default=["bf16"], choices=["bf16", "fp16"])
    args = parser.parse_args()
    units = cpu_bf16_units()
    rows = []
    for preset in args.presets:
        epochs = PRESETS[preset]
        fp32 = train(preset, epochs, "fp32", fast=True)
        plain = train(preset, epochs, "fp32", fast=False)
        for precision in args.precisions:
            low = train(preset, epochs, precision, fast=False)
            change = 100 * (low["value"] - fp32["value"]) / abs(fp32["value"])
            rows.append(f"| `{preset}` | {epochs} | {fp32['metric']} | {low['metric']} ({precision}) | {change:+.1f}% | "
                        f"{fp32['seconds']:.2f} ({fp32['step']}) | {plain['seconds']:.2f} | {low['seconds']:.2f} | "
                        f"{plain['seconds'] / low['seconds']:.2f}x |")
            print(rows[-1], flush=True)
    units_text = ("bf16 units: " + " and ".join(units)) if units else ("no bf16 units" if units == [] else "")
    table = "\n".join([
        "## Mixed precision against fp32\n",
        f"Made by `.venv/bin/python scripts/precision_table.py --presets {' '.join(args.presets)}` on a 2-core CPU "
        f"({cpu_description()}; {units_text}): each preset "
        "trained on Fashion-MNIST from the same seed for the epochs shown, in fp32 as it trains by default (its "
        "hand-derived fast step where it has one), in fp32 with autograd (the step that mixed precision "
        "autocasts) and in the lower precision. Metric: test loss / rounded accuracy for the autoencoders, FID / "
        "classes covered (10,000 samples, aegan's own feature space) for the GANs. Seconds are the median epoch's.\n",
        "| preset | epochs | fp32 | lower precision | metric change | fp32 s/epoch (step) | fp32 autograd s/epoch "
        "| lower s/epoch | speed-up over fp32 autograd |",
        "|---|---|---|---|---|---|---|---|---|", *rows])
    write_section("precision", table)
    print(table)


if __name__ == "__main__":
    main()
