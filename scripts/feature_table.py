"""Codings aimed at features: feature_ae's probes against PCA, option by option; pretraining with few labels; photos.

    .venv/bin/python scripts/feature_table.py probes      # each option added in turn, on Fashion-MNIST
    .venv/bin/python scripts/feature_table.py labels      # aegan classify with 100 / 500 / 1,000 / 5,000 labels
    .venv/bin/python scripts/feature_table.py photos      # the same recipe on the folder of photographs

`probes` trains the `feature_ae` preset into runs/features/, first whole, then with its options
added one at a time to a plain convolutional encoder with a dense 30-D bottleneck (batch norm,
the cosine learning-rate schedule, random views, masking, the agreement of two views); each
run is measured by `aegan evaluate --umap` (linear probe and 5-NN on the test split, PCA with 10,
30 and 64 components, t-SNE and UMAP trustworthiness) and the table goes into the section
`feature-ae` of docs/RESULTS.md. `labels` runs `aegan classify` on the whole recipe's run with
3 seeds per label count (section `feature-ae-labels`, with each arm's training seconds).
`photos` trains the recipe on scripts/photo_folder.py's folder (runs/photos/data, made with
scikit-image's photos when missing) and probes it against PCA (section `feature-ae-photos`).
A run that is already measured is not trained or measured again. Run one part at a time, alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

import aegan
from aegan.api import evaluate, pretraining_experiment
from aegan.runtime import cpu_description
from results_page import write_section

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "features"
PLAIN = {"model.batch_norm": False, "model.augment": [], "model.mask_ratio": 0.0, "model.invariance_weight": 0.0,
         "training.learning_rate_schedule": "constant"}
# Each step adds one option to the one before: (name, the overrides of the preset that remain off)
STEPS = [
    ("conv encoder + dense 30 codings, Adam (plain)", PLAIN),
    ("+ batch norm", {**PLAIN, "model.batch_norm": True}),
    ("+ cosine learning-rate schedule", {**PLAIN, "model.batch_norm": True,
                                         "training.learning_rate_schedule": "cosine"}),
    ("+ random views (flips, shifts)", {"model.mask_ratio": 0.0, "model.invariance_weight": 0.0}),
    ("+ half of the 4x4 squares masked", {"model.invariance_weight": 0.0}),
    ("+ agreement of two views' codings = `feature_ae`", {}),
]
LABELS = (100, 500, 1000, 5000)


def slug(overrides: dict) -> str:
    return "feature_ae" if not overrides else "feature_ae-without-" + "-".join(
        sorted(key.split(".")[1] for key, value in overrides.items()
               if value not in (True,) and not (key == "training.learning_rate_schedule" and value == "cosine")))


def trained(out: Path, overrides: dict, data: Path | None = None) -> aegan.Run:
    if (out / "test.json").is_file():
        return aegan.Run(out)
    if out.exists():
        shutil.rmtree(out)
    return aegan.train("feature_ae", data=data, out=out, overrides=overrides, progress=False)


def measured(run: aegan.Run) -> dict:
    file = run.path / "evaluation.json"
    if file.is_file() and "umap_trustworthiness" in (saved := json.loads(file.read_text())):
        return saved
    return evaluate(run, umap=True)


def minutes(run: aegan.Run) -> float:
    return sum(record["seconds"] for record in run.metrics()) / 60


def probes() -> None:
    rows, results = [], []
    order = [STEPS[-1]] + STEPS[:-1]  # the whole recipe first: its answer matters most
    for name, overrides in order:
        run = trained(RUNS / slug(overrides), overrides)
        result = measured(run)
        results.append((name, run, result))
        print(f"{name}: linear {result['linear_probe_accuracy']:.4f}, 5-NN {result['knn_accuracy']:.4f}", flush=True)
    results = [results[order.index(step)] for step in STEPS]
    base = results[-1][2]
    for name, run, r in results:
        rows.append(f"| {name} | {len(run.metrics())} | {minutes(run):.1f} | {r['linear_probe_accuracy']:.4f} | "
                    f"{r['linear_probe_accuracy'] - base['pca30_linear_probe_accuracy']:+.4f} | "
                    f"{r['knn_accuracy']:.4f} | {r['knn_accuracy'] - base['pca30_knn_accuracy']:+.4f} | "
                    f"{r['tsne_trustworthiness']:.4f} | {r['umap_trustworthiness']:.4f} | {r['loss']:.4f} |")
    for level in (10, 30, 64):
        rows.append(f"| PCA, {level} components (pixels) | | | {base[f'pca{level}_linear_probe_accuracy']:.4f} | "
                    f"{base[f'pca{level}_linear_probe_accuracy'] - base['pca30_linear_probe_accuracy']:+.4f} | "
                    f"{base[f'pca{level}_knn_accuracy']:.4f} | "
                    f"{base[f'pca{level}_knn_accuracy'] - base['pca30_knn_accuracy']:+.4f} | | | |")
    config = aegan.Run(results[-1][1].path).config
    body = "\n".join([
        "## Codings aimed at features: `feature_ae` against PCA, option by option (test set)\n",
        "Made by `.venv/bin/python scripts/feature_table.py probes` (runs in `runs/features/`, measured by "
        "`aegan evaluate RUN --umap`) on " + cpu_description() + ". Every row has 30-D codings from the same "
        f"network (conv {'/'.join(map(str, config.model.filters))}, each followed by 2x2 max pooling, then a dense "
        f"layer of 30; the decoder mirrors it), Adam {config.training.learning_rate:g}, batch "
        f"{config.training.batch_size}, {config.training.num_epochs} epochs; each row adds one option to the row "
        "above. Linear probe: logistic regression on standardised codings; 5-NN: five nearest neighbours; both "
        "fitted on the 55,000 training images and scored on the 10,000 test images; the columns beside them are "
        "the difference from PCA with 30 components. Trustworthiness (k = 5) of the 2-D t-SNE and UMAP maps of "
        "the first 2,000 test codings. Test loss: per-pixel binary cross-entropy of the test images, seen whole.\n",
        "| codings from | epochs | training minutes | linear probe | − PCA-30 | 5-NN | − PCA-30 | "
        "t-SNE trustworthiness | UMAP trustworthiness | test loss |",
        "|---|---|---|---|---|---|---|---|---|---|", *rows])
    write_section("feature-ae", body)
    print(body)


def mean_sd(values: list[float]) -> str:
    return f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}"


def labels() -> None:
    run = aegan.Run(RUNS / "feature_ae")
    rows = []
    for count in LABELS:
        file = run.path / f"pretraining-{count}.json"
        report = json.loads(file.read_text()) if file.is_file() else pretraining_experiment(run, labels=count, seeds=3)
        seeds = report["seeds"]
        gains = [s["fine_tuned_test_accuracy"] - s["scratch_test_accuracy"] for s in seeds]
        cells = [mean_sd([s[f"{arm}_test_accuracy"] for s in seeds]) for arm in ("scratch", "frozen", "fine_tuned",
                                                                                   "probe")]
        seconds = " / ".join(f"{statistics.fmean(s[f'{arm}_seconds'] for s in seeds):.0f}"
                             for arm in ("scratch", "fine_tuned", "probe"))
        rows.append(f"| {count:,} | {' | '.join(cells)} | {mean_sd(gains)} | {seconds} |")
        print(rows[-1], flush=True)
    body = "\n".join([
        "## Pretraining with few labels: `feature_ae`'s encoder against the same network from scratch\n",
        "Made by `.venv/bin/python scripts/feature_table.py labels` (`aegan classify runs/features/feature_ae "
        "--labels N --seeds 3`) on " + cpu_description() + ". Per seed, N labelled training images are drawn; "
        "the classifier is the run's encoder, then Dense 20 selu and a softmax. From scratch: a fresh encoder, 40 "
        "epochs. Reused: the run's trained encoder, 20 epochs frozen (its batch-norm statistics too), then 20 "
        "epochs fine-tuned at 1e-4 (the head's Adam rate is 1e-3, batch 32). Probe: logistic regression on the "
        "frozen codings of the N images. Test accuracy on the 10,000 test images, mean ± sd over 3 seeds; the gain "
        "is fine-tuned − scratch per seed. Seconds: training time of each arm (fine-tuned includes its frozen "
        "phase), mean over seeds.\n",
        "| labels | from scratch | reused, frozen | reused, fine-tuned | linear probe | fine-tuned − scratch | "
        "seconds: scratch / reused / probe |",
        "|---|---|---|---|---|---|---|", *rows])
    write_section("feature-ae-labels", body)
    print(body)


def photos() -> None:
    from photo_folder import build

    data = ROOT / "runs" / "photos" / "data"
    if not (data / "train").is_dir():
        build(data, 800, 200, seed=0)
    run = trained(ROOT / "runs" / "photos" / "feature_ae", {}, data=data)
    r = measured(run)
    rows = [f"| `feature_ae` codings | {r['coding_dimensions']} | {r['linear_probe_accuracy']:.3f} | "
            f"{r['knn_accuracy']:.3f} |"]
    for level in sorted({int(k[3:].split("_")[0]) for k in r if k.startswith("pca") and k[3].isdigit()}):
        rows.append(f"| PCA of the pixels | {level} | {r[f'pca{level}_linear_probe_accuracy']:.3f} | "
                    f"{r[f'pca{level}_knn_accuracy']:.3f} |")
    body = "\n".join([
        "## Codings aimed at features on the folder of photographs\n",
        "Made by `.venv/bin/python scripts/feature_table.py photos`: the `feature_ae` preset as it is "
        f"({run.config.training.num_epochs} epochs, {minutes(run):.1f} training minutes on " + cpu_description()
        + ") trained on the folder of 32x32 crops of ten real photographs described in the section above "
        "(10 classes, one per photo; test crops from a held-out strip of each photo), measured by "
        "`aegan evaluate RUN --umap` on the test crops. PCA is fitted on the training crops' pixels.\n",
        "| codings | dimensions | linear probe | 5-NN |", "|---|---|---|---|", *rows,
        f"\nt-SNE trustworthiness {r['tsne_trustworthiness']:.4f}, UMAP trustworthiness "
        f"{r['umap_trustworthiness']:.4f}."])
    write_section("feature-ae-photos", body)
    print(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("probes", "labels", "photos"))
    args = parser.parse_args()
    {"probes": probes, "labels": labels, "photos": photos}[args.part]()


if __name__ == "__main__":
    main()
