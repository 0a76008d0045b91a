"""Codings aimed at features: feature_ae's probes against PCA, option by option; pretraining with few labels; photos.

    .venv/bin/python scripts/feature_table.py probes      # each option added in turn, on Fashion-MNIST
    .venv/bin/python scripts/feature_table.py labels      # aegan classify with 100 / 500 / 1,000 / 5,000 labels
    .venv/bin/python scripts/feature_table.py photos      # the same recipe on the folder of photographs
    .venv/bin/python scripts/feature_table.py variants    # more options, each on the whole preset

`probes` trains the `feature_ae` preset into runs/features/feature_ae, then, for `--epochs` each,
its options added one at a time to a plain convolutional encoder with a dense 30-D bottleneck,
and the options of the literature (random views, masking, two views' codings pulled together)
each added to the whole preset; each run is measured by `aegan evaluate` (linear probe and 5-NN
on the test split, PCA with 10, 30 and 64 components, t-SNE trustworthiness; UMAP's too for the
preset's run) and the table goes into the section `feature-ae` of docs/RESULTS.md. `labels` runs `aegan classify` on the whole recipe's run with
3 seeds per label count, at the default fine-tuning rate and at the head's own (section
`feature-ae-labels`, with each arm's training seconds).
`photos` trains the recipe on scripts/photo_folder.py's folder (runs/photos/data, made with
scikit-image's photos when missing) and probes it against PCA (section `feature-ae-photos`).
`variants` trains and measures each of VARIANTS (one option or a few changed on the whole preset,
at 5, 20 or 40 epochs) into runs/features/screen-NAME (section `feature-ae-variants`).
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
OFF = {"model.batch_norm": False, "model.standardize_codings": False, "training.learning_rate_schedule": "constant"}
VIEWS = {"model.augment": ["flip", "translation"], "model.target": "original"}
# (name, overrides of the preset): first the preset's options added one at a time to a plain
# convolutional autoencoder with a dense bottleneck, then options that aim at features the way the
# literature does, each added to the whole preset
STEPS = [
    ("conv encoder + dense 30 codings, Adam (plain)", OFF),
    ("+ batch norm", {**OFF, "model.batch_norm": True}),
    ("+ cosine learning-rate schedule", {**OFF, "model.batch_norm": True, "training.learning_rate_schedule": "cosine"}),
    ("+ standardised codings = `feature_ae`", {}),
    ("`feature_ae` + Gaussian noise (0.3) on the codings", {"model.coding_noise": 0.3}),
    ("`feature_ae` + random views (flips, shifts), original reconstructed", VIEWS),
    ("`feature_ae` + 25% of the 4x4 squares masked, original reconstructed", {"model.mask_ratio": 0.25,
                                                                              "model.target": "original"}),
    ("`feature_ae` + views + agreement of two views' codings (spread)", {**VIEWS, "model.invariance_weight": 1.0}),
    ("`feature_ae` + views + contrastive agreement (NT-Xent, 0.5)", {**VIEWS, "model.invariance_weight": 1.0,
                                                                     "model.agreement": "contrastive"}),
]
LABELS = (100, 500, 1000, 5000)
SPHERE = {"model.spherical_codings": True}
CONTRASTIVE_HEAD = {**VIEWS, "model.projection": 128, "model.invariance_weight": 0.3, "model.agreement": "contrastive"}
# (folder name under runs/features/screen-, what changed, overrides, epochs): each on the whole preset
VARIANTS = [
    ("batch64-5ep", "batch 64 (preset: 128)", {"training.batch_size": 64}, 5),
    ("lr1e-3-5ep", "Adam 1e-3 (preset: 2e-3)", {"training.learning_rate": 1e-3}, 5),
    ("mse-5ep", "reconstruction loss MSE (preset: BCE)", {"model.reconstruction_loss": "mse"}, 5),
    ("depth2-5ep", "2 convolutions per block", {"model.convolutions_per_block": 2}, 5),
    ("sphere-5ep", "spherical codings", SPHERE, 5),
    ("sphere-hidden256-5ep", "spherical codings + dense 256 on each side of the codings",
     {**SPHERE, "model.hidden_units": 256}, 5),
    ("proj128-c0.1-5ep", "views + contrastive agreement (0.1) after a projection head of 128",
     {**CONTRASTIVE_HEAD, "model.invariance_weight": 0.1}, 5),
    ("lr1e-3-20ep", "Adam 1e-3", {"training.learning_rate": 1e-3}, 20),
    ("sphere-20ep", "spherical codings", SPHERE, 20),
    ("sphere-hidden256-20ep", "spherical codings + dense 256 on each side of the codings",
     {**SPHERE, "model.hidden_units": 256}, 20),
    ("sphere-simclr-20ep", "spherical codings + views + contrastive agreement (0.3) after a projection head of 128",
     {**SPHERE, **CONTRASTIVE_HEAD}, 20),
    ("sphere-40ep", "spherical codings, 40 epochs", SPHERE, 40),
    ("preset-40ep", "nothing: the preset, 40 epochs", {}, 40),
]


def slug(index: int, epochs: int) -> str:
    return f"step{index}-{epochs}ep"


def trained(out: Path, overrides: dict, data: Path | None = None, epochs: int | None = None) -> aegan.Run:
    if (out / "test.json").is_file():
        return aegan.Run(out)
    if out.exists():
        shutil.rmtree(out)
    return aegan.train("feature_ae", data=data, out=out, overrides=overrides, epochs=epochs, progress=False)


def measured(run: aegan.Run, umap: bool = True) -> dict:
    file = run.path / "evaluation.json"
    if file.is_file() and (not umap or "umap_trustworthiness" in (saved := json.loads(file.read_text()))):
        return json.loads(file.read_text())
    return evaluate(run, umap=umap)


def minutes(run: aegan.Run) -> float:
    return sum(record["seconds"] for record in run.metrics()) / 60


def probes(epochs: int) -> None:
    headline = measured(trained(RUNS / "feature_ae", {}))  # the preset as it is, with UMAP
    rows = []
    results = []
    for index, (name, overrides) in enumerate(STEPS):
        run = trained(RUNS / slug(index, epochs), overrides, epochs=epochs)
        result = measured(run, umap=False)
        results.append((name, run, result))
        print(f"{name}: linear {result['linear_probe_accuracy']:.4f}, 5-NN {result['knn_accuracy']:.4f}", flush=True)
    base = results[0][2]

    def row(name, run, r):
        return (f"| {name} | {len(run.metrics())} | {minutes(run):.1f} | {r['linear_probe_accuracy']:.4f} | "
                f"{r['linear_probe_accuracy'] - base['pca30_linear_probe_accuracy']:+.4f} | {r['knn_accuracy']:.4f} | "
                f"{r['knn_accuracy'] - base['pca30_knn_accuracy']:+.4f} | {r['tsne_trustworthiness']:.4f} | "
                f"{r.get('umap_trustworthiness', float('nan')):.4f} | {r['loss']:.4f} |".replace("| nan |", "| |"))

    preset = aegan.Run(RUNS / "feature_ae")
    rows.append(row("**`feature_ae` as the preset trains it**", preset, headline))
    rows += [row(name, run, r) for name, run, r in results]
    for level in (10, 30, 64):
        rows.append(f"| PCA, {level} components (pixels) | | | {base[f'pca{level}_linear_probe_accuracy']:.4f} | "
                    f"{base[f'pca{level}_linear_probe_accuracy'] - base['pca30_linear_probe_accuracy']:+.4f} | "
                    f"{base[f'pca{level}_knn_accuracy']:.4f} | "
                    f"{base[f'pca{level}_knn_accuracy'] - base['pca30_knn_accuracy']:+.4f} | | | |")
    config = preset.config
    body = "\n".join([
        "## Codings aimed at features: `feature_ae` against PCA, option by option (test set)\n",
        "Made by `.venv/bin/python scripts/feature_table.py probes` (runs in `runs/features/`, measured by "
        "`aegan evaluate RUN`, with `--umap` for the preset's own run) on " + cpu_description() + ". Every row "
        f"has 30-D codings from the same network (conv {'/'.join(map(str, config.model.filters))}, each followed "
        "by 2x2 max pooling, then a dense layer of 30; the decoder mirrors it), Adam "
        f"{config.training.learning_rate:g}, batch {config.training.batch_size}. The first row is the preset, "
        f"{config.training.num_epochs} epochs; the others are {epochs} epochs each: first the preset's options "
        "added one at a time to a plain convolutional autoencoder, then options of the literature each added to "
        "the whole preset. Linear probe: logistic regression on standardised codings; 5-NN: five nearest "
        "neighbours; both fitted on the 55,000 training images and scored on the 10,000 test images; the columns "
        "beside them are the difference from PCA with 30 components. Trustworthiness (k = 5) of the 2-D t-SNE "
        "and UMAP maps of the first 2,000 test codings. Test loss: per-pixel binary cross-entropy of the test "
        "images, seen whole.\n",
        "| codings from | epochs | training minutes | linear probe | − PCA-30 | 5-NN | − PCA-30 | "
        "t-SNE trustworthiness | UMAP trustworthiness | test loss |",
        "|---|---|---|---|---|---|---|---|---|---|", *rows])
    write_section("feature-ae", body)
    print(body)


def mean_sd(values: list[float]) -> str:
    return f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}"


FINE_TUNE_RATES = (None, 1e-3)  # the default (1e-4, a tenth of the head's) and the head's own rate
# the semi-supervised arms: weight of the autoencoder's loss, fine-tuning rate (picked on seeds 0-2's
# validation accuracy at 500 labels), and the label counts they ran at
RECONSTRUCTION = (3.0, 2e-3)
RECONSTRUCTION_LABELS = (100, 500, 1000)


def pretraining_report(run: aegan.Run, count: int, rate: float | None = None, weight: float = 0.0) -> dict:
    """The run's saved few-label report for this protocol, or a new one (3 seeds)."""
    from aegan.evaluation.evaluate_run import pretraining_file

    file = run.path / pretraining_file(count, rate, weight)
    return (json.loads(file.read_text()) if file.is_file()
            else pretraining_experiment(run, labels=count, seeds=3, fine_tune_learning_rate=rate,
                                        reconstruction_weight=weight))


def reconstructing_rows(run: aegan.Run) -> list[str]:
    """Rows of the semi-supervised arms' table, one per label count."""
    weight, rate = RECONSTRUCTION
    rows = []
    for count in RECONSTRUCTION_LABELS:
        seeds = pretraining_report(run, count, rate, weight)["seeds"]
        cells = [mean_sd([s[f"{arm}_test_accuracy"] for s in seeds])
                 for arm in ("scratch", "scratch_reconstructing", "fine_tuned", "reconstructing")]
        cells += [mean_sd([s["reconstructing_test_accuracy"] - s[f"{arm}_test_accuracy"] for s in seeds])
                  for arm in ("scratch", "scratch_reconstructing")]
        cells.append(mean_sd([s["reconstructing_valid_accuracy"] - s["scratch_valid_accuracy"] for s in seeds]))
        seconds = " / ".join(f"{statistics.fmean(s[f'{arm}_seconds'] for s in seeds):.0f}"
                             for arm in ("scratch", "scratch_reconstructing", "reconstructing"))
        rows.append(f"| {count:,} | {' | '.join(cells)} | {seconds} |")
        print(rows[-1], flush=True)
    return rows


def labels() -> None:
    run = trained(RUNS / "feature_ae", {})
    rows = []
    for count in LABELS:
        reports = [pretraining_report(run, count, rate) for rate in FINE_TUNE_RATES]
        seeds = reports[0]["seeds"]  # scratch, frozen and the probe do not depend on the fine-tuning rate
        tuned = [report["seeds"] for report in reports]
        cells = [mean_sd([s[f"{arm}_test_accuracy"] for s in seeds]) for arm in ("scratch", "frozen")]
        cells += [mean_sd([s["fine_tuned_test_accuracy"] for s in each]) for each in tuned]
        cells.append(mean_sd([s["probe_test_accuracy"] for s in seeds]))
        cells += [mean_sd([t["fine_tuned_test_accuracy"] - s["scratch_test_accuracy"] for s, t in zip(seeds, each)])
                  for each in tuned]
        seconds = " / ".join(f"{statistics.fmean(s[f'{arm}_seconds'] for s in seeds):.0f}"
                             for arm in ("scratch", "fine_tuned", "probe"))
        rows.append(f"| {count:,} | {' | '.join(cells)} | {seconds} |")
        print(rows[-1], flush=True)
    body = "\n".join([
        "## Pretraining with few labels: `feature_ae`'s encoder against the same network from scratch\n",
        "Made by `.venv/bin/python scripts/feature_table.py labels` (`aegan classify runs/features/feature_ae "
        "--labels N --seeds 3`, and again with `--fine-tune-learning-rate 1e-3`) on " + cpu_description() + ". "
        "Per seed, N labelled training images are drawn; the classifier is the run's encoder, then Dense 20 selu "
        "and a softmax. From scratch: a fresh encoder, 40 epochs. Reused: the run's trained encoder, 20 epochs "
        "frozen (its batch-norm statistics too), then 20 epochs fine-tuned with the encoder at 1e-4 (the default, "
        "a tenth of the head's rate) or at 1e-3 (the head's Adam rate; batch 32). Probe: logistic regression on "
        "the frozen codings of the N images. Test accuracy on the 10,000 test images, mean ± sd over 3 seeds; the "
        "gains are fine-tuned − scratch per seed. Seconds: training time of each arm at the default rate "
        "(fine-tuned includes its frozen phase), mean over seeds.\n",
        "| labels | from scratch | reused, frozen | reused, fine-tuned at 1e-4 | reused, fine-tuned at 1e-3 | "
        "linear probe | gain at 1e-4 | gain at 1e-3 | seconds: scratch / reused / probe |",
        "|---|---|---|---|---|---|---|---|---|", *rows])
    weight, rate = RECONSTRUCTION
    body += "\n".join([
        "\n\nSemi-supervised arms (`aegan classify runs/features/feature_ae --labels N --seeds 3 "
        f"--fine-tune-learning-rate {rate:g} --reconstruction-weight {weight:g}`): every step of these arms also "
        f"adds {weight:g} times the autoencoder's own loss (per-pixel binary cross-entropy) on 128 training images "
        "drawn at random, labelled or not. Reused, reconstructing: the run's network (decoder included) after the "
        f"same frozen phase, fine-tuned that way at {rate:g}. Scratch, reconstructing: a fresh network trained that "
        "way for 40 epochs at 1e-3, the control. The weight and rate were picked among a few on the validation "
        "accuracy of these seeds at 500 labels, so the test columns carry a little of that choice. The same seeds "
        "and labelled images as above; the plain fine-tuned column is this protocol's rate without "
        "reconstruction.\n",
        f"| labels | from scratch | scratch, reconstructing | reused, fine-tuned at {rate:g} | reused, reconstructing "
        "| gain over scratch | gain over scratch, reconstructing | gain over scratch (validation) "
        "| seconds: scratch / scratch reconstructing / reused reconstructing |",
        "|---|---|---|---|---|---|---|---|---|", *reconstructing_rows(run)])
    write_section("feature-ae-labels", body)
    print(body)


# (folder under runs/photos/screen-, what changed, overrides, epochs): each on the whole preset, on the photos
PHOTO_VARIANTS = [
    ("feature_ae-100ep", "nothing (the preset, 100 epochs)", {}, 100),
    ("feature_ae-views", "random views (flips, shifts)", {"model.augment": ["flip", "translation"]}, 20),
    ("depth2", "2 convolutions per block", {"model.convolutions_per_block": 2}, 20),
    ("hidden256", "dense 256 on each side of the codings", {"model.hidden_units": 256}, 20),
    ("sphere", "spherical codings", SPHERE, 20),
    ("sphere-hidden256", "spherical codings + dense 256", {**SPHERE, "model.hidden_units": 256}, 20),
    ("sphere-100ep", "spherical codings, 100 epochs", SPHERE, 100),
    ("sphere-mask25", "spherical codings + 25% of the 4x4 squares masked", {**SPHERE, "model.mask_ratio": 0.25}, 20),
    ("sphere-noise03", "spherical codings + Gaussian noise (0.3) on the codings", {**SPHERE, "model.coding_noise": 0.3},
     20),
    ("sphere-seed1", "spherical codings, training seed 1 (preset: 42)", {**SPHERE, "training.seed": 1}, 20),
    ("sphere-seed2", "spherical codings, training seed 2", {**SPHERE, "training.seed": 2}, 20),
    ("preset-seed1", "nothing, training seed 1", {"training.seed": 1}, 20),
]


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
    variants = []
    for folder, name, overrides, epochs in PHOTO_VARIANTS:
        screen = trained(ROOT / "runs" / "photos" / f"screen-{folder}", overrides, data=data, epochs=epochs)
        v = measured(screen, umap=False)
        variants.append(f"| {name} | {epochs} | {v['linear_probe_accuracy']:.4f} | "
                        f"{v['linear_probe_accuracy'] - v['pca30_linear_probe_accuracy']:+.4f} | {v['knn_accuracy']:.4f} | "
                        f"{v['knn_accuracy'] - v['pca30_knn_accuracy']:+.4f} |")
        print(variants[-1], flush=True)
    body = "\n".join([
        "## Codings aimed at features on the folder of photographs\n",
        "Made by `.venv/bin/python scripts/feature_table.py photos`: the `feature_ae` preset as it is "
        f"({run.config.training.num_epochs} epochs, {minutes(run):.1f} training minutes on " + cpu_description()
        + ") trained on the folder of 32x32 crops of ten real photographs described in the section above "
        "(10 classes, one per photo; test crops from a held-out strip of each photo), measured by "
        "`aegan evaluate RUN --umap` on the test crops. PCA is fitted on the training crops' pixels.\n",
        "| codings | dimensions | linear probe | 5-NN |", "|---|---|---|---|", *rows,
        f"\nt-SNE trustworthiness {r['tsne_trustworthiness']:.4f}, UMAP trustworthiness "
        f"{r['umap_trustworthiness']:.4f}.\n",
        "Options on the photos, each changed on the whole preset (runs in `runs/photos/screen-*`, measured by "
        "`aegan evaluate RUN`); the columns beside the probes are the difference from PCA-30 fitted on the same "
        f"run's training split ({r['pca30_linear_probe_accuracy']:.4f} and {r['pca30_knn_accuracy']:.4f} at the "
        "preset's seed; another training seed cuts another validation split, so PCA moves a little too), out of "
        f"{len(run.splits().test.labels):,} test crops (one crop is {1 / len(run.splits().test.labels):.4f}). "
        "The rows with other training seeds show how far one run's probes are from the next one's:\n",
        "| changed | epochs | linear probe | − PCA-30 | 5-NN | − PCA-30 |", "|---|---|---|---|---|---|", *variants])
    write_section("feature-ae-photos", body)
    print(body)


def variants() -> None:
    preset = aegan.Run(RUNS / "feature_ae")
    headline = measured(preset)
    pca_linear, pca_knn = headline["pca30_linear_probe_accuracy"], headline["pca30_knn_accuracy"]
    five = aegan.Run(RUNS / slug(3, 5))  # STEPS[3] is the preset itself

    def row(name, run, r):
        return (f"| {name} | {len(run.metrics())} | {minutes(run):.1f} | {r['linear_probe_accuracy']:.4f} | "
                f"{r['linear_probe_accuracy'] - pca_linear:+.4f} | {r['knn_accuracy']:.4f} | "
                f"{r['knn_accuracy'] - pca_knn:+.4f} |")

    rows = [row("the preset, 5 epochs", five, measured(five, umap=False)),
            row(f"**the preset, {preset.config.training.num_epochs} epochs**", preset, headline)]
    for folder, name, overrides, epochs in VARIANTS:
        run = trained(RUNS / f"screen-{folder}", overrides, epochs=epochs)
        rows.append(row(name, run, measured(run, umap=False)))
        print(rows[-1], flush=True)
    body = "\n".join([
        "## More `feature_ae` options, each on the whole preset (test set)\n",
        "Made by `.venv/bin/python scripts/feature_table.py variants` (runs in `runs/features/screen-*`, each "
        "`aegan train feature_ae --epochs E --set ...` then `aegan evaluate RUN`) on " + cpu_description() + ". "
        "Each row changes what it names on the whole preset and trains for the epochs shown (the cosine schedule "
        "spans them). The probes are those of the section above; the columns beside them are the difference "
        f"from PCA with 30 components ({pca_linear:.4f} and {pca_knn:.4f}). Between runs that differ only in "
        "noise, 5-epoch results move by a few tenths of a point, so only larger differences mean much. Training "
        "minutes of runs that shared the machine with other work are longer than alone.\n",
        "| changed | epochs | training minutes | linear probe | − PCA-30 | 5-NN | − PCA-30 |",
        "|---|---|---|---|---|---|---|", *rows])
    write_section("feature-ae-variants", body)
    print(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("probes", "labels", "photos", "variants"))
    parser.add_argument("--epochs", type=int, default=5, help="probes: the epochs of each option's run")
    args = parser.parse_args()
    if args.part == "probes":
        probes(args.epochs)
    else:
        {"labels": labels, "photos": photos, "variants": variants}[args.part]()


if __name__ == "__main__":
    main()
