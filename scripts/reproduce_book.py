"""Train presets with the book's recipes and write docs/RESULTS.md: aegan next to the book.

    .venv/bin/python scripts/reproduce_book.py                 # every preset below, in turn
    .venv/bin/python scripts/reproduce_book.py tied_ae conv_ae # only these

Runs go to runs/book/<preset>; a preset whose run folder already holds test.json is not
trained again, so an interrupted reproduction picks up where it stopped. Run it alone: two
trainings at once on a 2-core machine slow each other down many times over.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import aegan
from aegan.api import evaluate
from results_page import write_section

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "book"
# preset: (book's validation loss, book's validation rounded accuracy); None where not published.
BOOK = {
    "linear_pca": (0.0055, None),
    "stacked_ae": (0.2835, 0.9370),
    "tied_ae": (0.2839, 0.9338),
    "greedy_ae": (0.2857, 0.9371),
    "conv_ae": (0.2671, None),
    "recurrent_ae": (0.3206, 0.9015),
    "denoising_gaussian_ae": (0.2920, 0.9291),
    "denoising_dropout_ae": (0.2958, None),
    "sparse_kl_ae": (0.3053, 0.9174),
    "sparse_l1_ae": (0.3212, None),
    "vae": (0.3133, 0.9228),
    "linear_pca_fashion": (None, None),
    "conv_vae": (None, None),
}


# Runs that are not presets: the sparse models' coding layer without a penalty, for comparison.
VARIANTS = {"sparse_none_ae": ("sparse_kl_ae", {"model.sparsity": "none"})}


def run_preset(name: str) -> Path:
    out = RUNS / name
    if (out / "test.json").is_file():
        return out
    if out.exists():
        import shutil

        shutil.rmtree(out)  # an interrupted run of this script: start that preset again
    preset, overrides = VARIANTS.get(name, (name, {}))
    aegan.train(preset, out=out, progress=False, overrides=overrides)
    return out


def sparsity_table() -> str:
    rows = []
    for name in ("sparse_none_ae", "sparse_l1_ae", "sparse_kl_ae"):
        report = evaluate(aegan.Run(run_preset(name)), split="test")
        rows.append(f"| `{name}` | {report['mean_activation']:.3f} | {report['share_below_0.1']:.3f} | "
                    f"{report['reconstruction_loss']:.4f} |")
    return "\n".join([
        "\n## Sparsity of the 300-unit sigmoid coding layer (test set)\n",
        "`sparse_none_ae` is `sparse_kl_ae` with `--set model.sparsity=none`: same layers, no penalty.\n",
        "| run | mean activation | share of activations < 0.1 | reconstruction loss |",
        "|---|---|---|---|", *rows])


def weights_table() -> str:
    def weights(name):
        model = aegan.build_model(aegan.load_config(name).model)
        return sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight"))

    return (f"\n\n## Tied weights\n\nweight parameters: `stacked_ae` {weights('stacked_ae'):,}, "
            f"`tied_ae` {weights('tied_ae'):,}\n")


def fmt(value, digits=4):
    return "-" if value is None else f"{value:.{digits}f}"


def main(presets: list[str]) -> None:
    rows = []
    for preset in presets:
        run = aegan.Run(run_preset(preset))
        last = run.metrics()[-1]
        split = "train" if run.config.data.dataset == "toy3d" else "test"
        extra = evaluate(run, split=split)
        book_loss, book_accuracy = BOOK.get(preset, (None, None))
        loss = last["loss"] if preset == "linear_pca" else last["val_loss"]
        ratio = f"{loss / book_loss:.3f}" if book_loss else "-"
        notes = []
        if "mse_ratio" in extra:
            notes.append(f"PCA: angle {extra['largest_principal_angle_degrees']:.2f} deg, "
                         f"MSE ratio {extra['mse_ratio']:.4f} ({split})")
        if "mean_activation" in extra:
            notes.append(f"mean coding activation {extra['mean_activation']:.3f}")
        if "active_units" in extra:
            notes.append(f"neg. ELBO {extra['negative_elbo_nats']:.1f} nats, "
                         f"{extra['active_units']}/{extra['coding_size']} active units")
        rows.append(f"| `{preset}` | {len(run.metrics())} | {fmt(loss)} | {fmt(book_loss)} | {ratio} | "
                    f"{fmt(last.get('val_rounded_accuracy'))} | {fmt(book_accuracy)} | "
                    f"{statistics.median(r['seconds'] for r in run.metrics()):.2f} | {'; '.join(notes)} |")
        print(rows[-1], flush=True)
    table = "\n".join([
        "| preset | epochs | aegan val loss | book | aegan / book | aegan val rounded acc | book | s/epoch (median) | notes |",
        "|---|---|---|---|---|---|---|---|---|", *rows])
    path = write_section("book", HEADER + table + "\n" + sparsity_table() + weights_table() + FIGURES)
    print(f"wrote {path}")


HEADER = """# Results: aegan next to the book

Made by `.venv/bin/python scripts/reproduce_book.py` on a 2-core CPU (runs in `runs/book/`).
Each preset follows the book's (ml2) recipe and epoch count; validation split = the first
5,000 training images. `linear_pca` shows the training loss on its 60 toy points, as the book
does. Notes come from `aegan evaluate` on the test split.

"""

FIGURES = """
## Figures

`aegan encode runs/book/linear_pca --split train --plot docs/images/linear-pca-codings.png`
(the 60 toy points projected on the plane the linear autoencoder found, as in the book):

![linear autoencoder codings](images/linear-pca-codings.png)

`aegan reconstruct runs/book/denoising_gaussian_ae --noise --n 8` and the same for
`denoising_dropout_ae` (originals, noisy inputs, denoised outputs):

![Gaussian denoising](images/denoising-gaussian.png)
![dropout denoising](images/denoising-dropout.png)

`aegan evaluate runs/book/sparse_kl_ae` and `aegan evaluate runs/book/sparse_l1_ae` (histograms
of all coding activations and of each unit's mean activation, test set):

![KL sparsity](images/sparse-kl-activations.png)
![L1 sparsity](images/sparse-l1-activations.png)
"""

if __name__ == "__main__":
    main(sys.argv[1:] or list(BOOK))
