"""Measure the trained runs with `aegan evaluate` and `aegan classify`; write the tables into docs/RESULTS.md.

    .venv/bin/python scripts/evaluation_tables.py [--again]

Reads the runs that scripts/reproduce_book.py and the GAN runs left in runs/ (a run that is
missing is listed as such). Every encoding run gets its probe accuracies next to PCA's, every
sampling run its generative metrics beside their floors, and the encoders named in
PRETRAINED the few-label experiment over 3 seeds. A run whose evaluation.json (or
pretraining-500.json) already holds the keys is not measured again unless --again is given.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aegan.api import evaluate, pretraining_experiment
from aegan.evaluation.classifier import RECIPE
from results_page import write_section

ROOT = Path(__file__).resolve().parents[1]
ENCODING = ["stacked_ae", "tied_ae", "greedy_ae", "conv_ae", "recurrent_ae", "denoising_gaussian_ae",
            "denoising_dropout_ae", "sparse_l1_ae", "sparse_kl_ae", "linear_pca_fashion", "vae", "conv_vae"]
SAMPLING = {"vae": "runs/book/vae", "conv_vae": "runs/book/conv_vae", "gan": "runs/gan50", "cgan": "runs/cgan5",
            "dcgan": "runs/dcgan"}
PRETRAINED = ["conv_ae", "stacked_ae", "denoising_gaussian_ae"]


def measured(path: Path, key: str, again: bool) -> dict:
    """RUN/evaluation.json, evaluating again when it lacks `key`, when its generative metrics
    came from another feature classifier, or with --again."""
    file = path / "evaluation.json"
    if not again and file.is_file():
        result = json.loads(file.read_text())
        if key in result and ("fid" not in result or result.get("feature_classifier_recipe") == RECIPE):
            return result
    print(f"evaluating {path}", flush=True)
    return evaluate(path)


def probe_table(again: bool) -> str:
    rows = []
    for preset in ENCODING:
        path = ROOT / "runs" / "book" / preset
        if not path.is_dir():
            rows.append(f"| `{preset}` | not trained | | | | | | |")
            continue
        r = measured(path, "linear_probe_accuracy", again)
        rows.append(f"| `{preset}` | {r['coding_dimensions']} | {r['linear_probe_accuracy']:.4f} | "
                    f"{r['pca_linear_probe_accuracy']:.4f} | {r['knn_accuracy']:.4f} | {r['pca_knn_accuracy']:.4f} | "
                    f"{r['tsne_trustworthiness']:.4f} | {r['reconstruction_loss']:.4f} |")
        print(rows[-1], flush=True)
    return "\n".join([
        "## Representations: probes of the codings next to PCA (test set)\n",
        "Made by `.venv/bin/python scripts/evaluation_tables.py` (`aegan evaluate RUN` on each run of the book "
        "table). Linear probe: logistic regression on standardised codings; 5-NN: five nearest neighbours; both "
        "fitted on the 55,000 training images and scored on the 10,000 test images. PCA: as many components as "
        "the codings have dimensions, fitted on the training pixels and probed the same way. Trustworthiness "
        "(k = 5) of the 2-D t-SNE map of the first 2,000 test codings. Reconstruction loss: the run's own loss on "
        "the test set (per-pixel BCE; MSE for `linear_pca_fashion`).\n",
        "| preset | coding dims | linear probe | PCA linear probe | 5-NN | PCA 5-NN | t-SNE trustworthiness | "
        "test reconstruction loss |",
        "|---|---|---|---|---|---|---|---|", *rows])


def generative_table(again: bool) -> str:
    rows, floor = [], None
    for preset, folder in SAMPLING.items():
        path = ROOT / folder
        if not path.is_dir():
            rows.append(f"| `{preset}` | not trained | | | | | | | | |")
            continue
        r = measured(path, "fid", again)
        floor = r
        epochs = r.get("epoch", "")
        rows.append(f"| `{preset}` | {epochs} | {r['fid']:.1f} | {r['kid']:.4f} | {r['precision']:.3f} | "
                    f"{r['recall']:.3f} | {r['density']:.3f} | {r['coverage']:.3f} | {r['classes_covered']} | "
                    f"{r['class_kl_to_test']:.3f} | {r['classifier_score']:.2f} |")
        print(rows[-1], flush=True)
    if floor is not None:
        rows.append(f"| floor: 10,000 training vs test images | | {floor['fid_floor']:.2f} | {floor['kid_floor']:.4f} | "
                    f"{floor['precision_floor']:.3f} | {floor['recall_floor']:.3f} | {floor['density_floor']:.3f} | "
                    f"{floor['coverage_floor']:.3f} | {floor['classes_covered_floor']} | "
                    f"{floor['class_kl_to_test_floor']:.3f} | {floor['classifier_score_floor']:.2f} |")
        accuracy = f"; its test accuracy is {floor['feature_classifier_test_accuracy']:.4f}"
    else:
        accuracy = ""
    return "\n".join([
        "## Generative metrics of every sampling run, beside their floors\n",
        "`aegan evaluate RUN`: 10,000 samples against the 10,000 test images, in the 128-D feature space of "
        f"aegan's own Fashion-MNIST classifier (`evaluation/classifier.py`{accuracy}). The floor is the same "
        "metric for 10,000 training images against the test images: what a perfect generator would score. "
        "Classes covered: classes that get at least 10% of their fair share of the samples.\n",
        "| preset | epochs | FID | KID | precision | recall | density | coverage | classes covered | "
        "class KL to test | classifier score |",
        "|---|---|---|---|---|---|---|---|---|---|---|", *rows])


def pretraining_table(again: bool) -> str:
    rows = []
    for preset in PRETRAINED:
        path = ROOT / "runs" / "book" / preset
        if not path.is_dir():
            continue
        file = path / "pretraining-500.json"
        if not file.is_file() and (path / "pretraining.json").is_file():  # written by an older aegan
            file = path / "pretraining.json"
        saved = json.loads(file.read_text()) if file.is_file() else {}
        if again or saved.get("labels") != 500 or len(saved.get("seeds", [])) < 3:
            print(f"few-label experiment on {path}", flush=True)
            pretraining_experiment(path, labels=500, seeds=3)
            file = path / "pretraining-500.json"
        r = json.loads(file.read_text())
        cells = [f"{r[f'{name}_test_accuracy_mean']:.4f} ± {r[f'{name}_test_accuracy_std']:.4f}"
                 for name in ("scratch", "frozen", "fine_tuned")]
        gain = r["fine_tuned_test_accuracy_mean"] - r["scratch_test_accuracy_mean"]
        rows.append(f"| `{preset}` | {len(r['seeds'])} | {' | '.join(cells)} | {gain:+.4f} |")
        print(rows[-1], flush=True)
    return "\n".join([
        "## Unsupervised pretraining with 500 labels\n",
        "`aegan classify RUN --labels 500 --seeds 3`: 500 labelled training images drawn per seed; the run's "
        "encoder, then Dense 20 selu and a softmax. Scratch: a fresh encoder, 40 epochs. Reused: the run's "
        "trained encoder (tests check that the weights are the trained ones), 20 epochs frozen, then 20 epochs "
        "fine-tuned at a tenth of the learning rate (Adam 1e-3, batch 32). Test accuracy, mean ± sd over seeds. "
        "The book's notebook reports 0.7374 from scratch and 0.7902 \"reused\" (validation), but its reuse "
        "re-initialised the weights.\n",
        "| encoder from | seeds | from scratch | reused, frozen | reused, fine-tuned | fine-tuned − scratch |",
        "|---|---|---|---|---|---|", *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--again", action="store_true", help="measure every run again")
    args = parser.parse_args()
    write_section("representations", probe_table(args.again))
    write_section("generative", generative_table(args.again))
    path = write_section("pretraining", pretraining_table(args.again))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
