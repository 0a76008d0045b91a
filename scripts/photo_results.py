"""Train conv_ae, conv_vae and dcgan on a folder of 32x32 colour photographs; write their results.

    .venv/bin/pip install scikit-image          # once, for scripts/photo_folder.py's photos
    .venv/bin/python scripts/photo_results.py [--data runs/photos/data]

The folder (scripts/photo_folder.py, made at --data when missing) holds random crops of ten real
colour photos shipped by scikit-learn and scikit-image, one class per photo, with test crops
only from a held-out strip of each photo. Each preset is trained with the `aegan` command line,
one at a time, into runs/photos/<preset> with the epochs in EPOCHS (about 4-5 minutes each on
this project's 2-core CPU); then `aegan reconstruct` (conv_ae, conv_vae), `aegan sample`
(conv_vae, dcgan) and `aegan evaluate` (all three, without --n: the generative metrics then
compare min(10,000, test crops, training crops) samples, here as many as the test crops) run on
it. The figures are written to docs/images/photos-*.png and the section "photos" of
docs/RESULTS.md is written from the runs' own files (test.json, metrics.jsonl,
evaluation.json, timing.json) and a colour check of the test crops' reconstructions.

A run whose folder already holds its outputs (test.json, or every epoch's line in
metrics.jsonl for the GAN) is not trained again, and an evaluation.json of the expected sample
count and feature-classifier recipe is not measured again, so an interrupted script picks up
where it stopped (--again measures every run again; deleting RUN/evaluation.json measures
that run again). Run it alone: two trainings at once on a 2-core machine slow each other down
many times over.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import aegan
from aegan.evaluation.classifier import RECIPE
from aegan.evaluation.generative import spread
from aegan.plots import plot_image_grid
from photo_folder import HELD_OUT, MAX_SHARE, MIN_SHARE, SKIMAGE_PHOTOS, SKLEARN_PHOTOS, build
from results_page import write_section

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "photos"
IMAGES = ROOT / "docs" / "images"
TRAIN_CROPS, TEST_CROPS = 800, 200  # per photo
# Epochs chosen so that each run takes about 4-5 minutes here (one epoch measured first:
# conv_ae ~31 s, conv_vae ~25 s, dcgan ~300 s on 7,200 training crops, 2 shared cores).
EPOCHS = {"conv_ae": 8, "conv_vae": 10, "dcgan": 1}
RECONSTRUCTS, SAMPLES = ("conv_ae", "conv_vae"), ("conv_vae", "dcgan")
SAMPLE_COUNT, SAMPLE_SEED = 48, 1
GENERATIVE_N = 10000  # `aegan evaluate`'s default --n; it measures min(this, test size, train size) samples


def aegan_command(*args: str) -> float:
    """Run `aegan ARGS` (this interpreter's aegan); return its wall-clock seconds."""
    print("$ aegan " + " ".join(args), flush=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "aegan", *args], check=True)
    return time.perf_counter() - started


def finished(path: Path, epochs: int) -> bool:
    if (path / "test.json").is_file():
        return True
    metrics = path / "metrics.jsonl"
    config = path / "config.json"
    if not (metrics.is_file() and config.is_file()):
        return False
    gan = json.loads(config.read_text())["model"]["kind"] in ("gan", "dcgan")
    return gan and len(metrics.read_text().splitlines()) >= epochs


def train(preset: str, data: Path) -> Path:
    out = RUNS / preset
    if finished(out, EPOCHS[preset]):
        return out
    if out.exists():
        shutil.rmtree(out)  # an interrupted run of this script: train that preset again
    load = os.getloadavg()[0]
    seconds = aegan_command("train", preset, "--data", str(data), "--epochs", str(EPOCHS[preset]),
                            "--out", str(out), "--quiet")
    (out / "timing.json").write_text(json.dumps({"wall_seconds": seconds, "load_average_at_start": load}) + "\n")
    return out


def evaluated(path: Path, count: int, again: bool) -> dict:
    """RUN/evaluation.json, measured with `aegan evaluate RUN` (default --n) unless it is already
    there for `count` generative samples and the current feature-classifier recipe."""
    file = path / "evaluation.json"
    if not again and file.is_file():
        result = json.loads(file.read_text())
        generative = "fid" in result or aegan.Run(path).config.model.kind not in ("conv_vae", "dcgan")
        if generative and result.get("samples", count) == count and \
                result.get("feature_classifier_recipe", RECIPE) == RECIPE:
            return result
    aegan_command("evaluate", str(path))
    return json.loads(file.read_text())


def colour_check(runs: dict[str, aegan.Run]) -> list[str]:
    """Table rows: each photo's mean R, G, B over all its test crops and over each autoencoder's
    reconstructions of them."""
    test = runs["conv_ae"].splits().test
    names = runs["conv_ae"].spec.class_names
    images = np.asarray(test.samples)
    labels = np.asarray(test.labels)
    reconstructed = {preset: runs[preset].reconstruct(images) for preset in RECONSTRUCTS}

    def rgb(values: np.ndarray) -> str:
        return " ".join(f"{v:.2f}" for v in values.mean(axis=(0, 2, 3)))

    return [f"| {name} | {rgb(images[labels == c] / 255.0)} | "
            + " | ".join(rgb(reconstructed[p][labels == c]) for p in RECONSTRUCTS) + " |"
            for c, name in enumerate(names)]


def folder_figure(data: Path, names: tuple[str, ...]) -> Path:
    """Twelve training and four test crops of every photo, one photo per row."""
    from PIL import Image

    rows = []
    for name in names:
        files = sorted((data / "train" / name).glob("*.png"))[:12] + sorted((data / "test" / name).glob("*.png"))[:4]
        rows.append([np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1) / 255.0 for f in files])
    return plot_image_grid(np.array(rows), IMAGES / "photos-folder.png",
                           title="each row one photo: 12 training crops, then 4 test crops (held-out strip)")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def epochs(run: aegan.Run) -> str:
    count = len(run.metrics())
    return f"{count} epoch{'s' if count != 1 else ''}"


def fmt(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def generative_row(label: str, r: dict, suffix: str = "") -> str:
    keys = ("fid", "kid", "precision", "recall", "density", "coverage")
    digits = (1, 1, 3, 3, 3, 3)
    cells = [fmt(r[f"{k}{suffix}"], d) for k, d in zip(keys, digits)]
    return (f"| {label} | {' | '.join(cells)} | {r[f'classes_covered{suffix}']} | "
            f"{r[f'class_kl_to_test{suffix}']:.3f} | {r[f'classifier_score{suffix}']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=RUNS / "data", help="the photo folder (made when missing)")
    parser.add_argument("--again", action="store_true", help="evaluate every run again")
    args = parser.parse_args()
    data = args.data.resolve()
    if not (data / "train").is_dir():
        build(data, TRAIN_CROPS, TEST_CROPS, seed=0)
    crops_train = len(list((data / "train").rglob("*.png")))
    crops_test = len(list((data / "test").rglob("*.png")))
    IMAGES.mkdir(parents=True, exist_ok=True)

    runs = {preset: aegan.Run(train(preset, data)) for preset in EPOCHS}  # one at a time
    splits = runs["conv_ae"].splits()
    n = min(GENERATIVE_N, len(splits.test), len(splits.train))  # what `aegan evaluate` measures
    figures = {}
    for preset in RECONSTRUCTS:
        out = IMAGES / f"photos-{preset}-reconstructions.png"
        aegan_command("reconstruct", str(runs[preset].path), "--n", "10", "--out", str(out))
        figures[f"{preset} reconstructions"] = out
    for preset in SAMPLES:
        out = IMAGES / f"photos-{preset}-samples.png"
        aegan_command("sample", str(runs[preset].path), "-n", str(SAMPLE_COUNT), "--seed", str(SAMPLE_SEED),
                      "--out", str(out))
        figures[f"{preset} samples"] = out
    reports = {preset: evaluated(run.path, n, args.again) for preset, run in runs.items()}
    for preset in SAMPLES:
        if reports[preset].get("samples") != n:
            raise SystemExit(f"{preset}: evaluation.json compares {reports[preset].get('samples')} samples, "
                             f"expected {n}")
    colour_rows = colour_check(runs)
    names = runs["conv_ae"].spec.class_names
    folder_figure(data, names)
    stale = IMAGES / "photos-test-reconstructions.png"  # the script's own figure before aegan showed every class
    if stale.is_file():
        stale.unlink()

    # --- the section -------------------------------------------------------------------------
    budget_rows = []
    for preset, run in runs.items():
        metrics = run.metrics()
        timing_file = run.path / "timing.json"
        timing = json.loads(timing_file.read_text()) if timing_file.is_file() else {}
        wall = f"{timing['wall_seconds'] / 60:.1f}" if "wall_seconds" in timing else "-"
        load = f"{timing['load_average_at_start']:.1f}" if "load_average_at_start" in timing else "-"
        budget_rows.append(f"| `{preset}` | {len(metrics)} | {run.config.training.batch_size} | "
                           f"{sum(m['seconds'] for m in metrics) / 60:.1f} | {wall} | {load} |")
    reconstruction_rows = []
    for preset in RECONSTRUCTS:
        run, r = runs[preset], reports[preset]
        test = run.test_results()
        last = run.metrics()[-1]
        reconstruction_rows.append(
            f"| `{preset}` | {len(run.metrics())} | {last['val_loss']:.4f} | {test['loss']:.4f} | "
            f"{r['reconstruction_loss']:.4f} | {test['rounded_accuracy']:.4f} | {r['coding_dimensions']} | "
            f"{r['linear_probe_accuracy']:.3f} / {r['pca_linear_probe_accuracy']:.3f} | "
            f"{r['knn_accuracy']:.3f} / {r['pca_knn_accuracy']:.3f} |")
    generative_rows = [generative_row(f"`{p}` ({epochs(runs[p])})", reports[p]) for p in SAMPLES]
    floor_keys = [k for k in reports["dcgan"] if k.endswith("_floor")]
    floors = [p for p in SAMPLES if any(reports[p][k] != reports[SAMPLES[0]][k] for k in floor_keys)]
    if floors:  # not expected: the floor depends on the data, the classifier and the count only
        generative_rows += [generative_row(f"floor in `{p}`'s evaluation.json", reports[p], "_floor") for p in SAMPLES]
    else:
        generative_rows.append(generative_row(f"floor: {n:,} training crops, spread over the training split",
                                              reports["dcgan"], "_floor"))
    precise = " and ".join(f"`{p}`" for p in SAMPLES if reports[p]["precision"] >= reports[p]["precision_floor"])
    test_per_class = np.bincount(np.asarray(splits.test.labels)[spread(len(splits.test), n)], minlength=len(names))
    floor_per_class = np.bincount(np.asarray(splits.train.labels)[spread(len(splits.train), n)], minlength=len(names))

    def per_photo(values: np.ndarray) -> str:
        low, high = int(values.min()), int(values.max())
        return f"{low} of each photo" if low == high else f"{low} to {high} of each photo"
    histograms = []
    for preset in SAMPLES:
        counts = reports[preset]["class_histogram"]
        histograms.append(f"- `{preset}`: " + ", ".join(f"{name} {count}" for name, count in zip(names, counts)))
    accuracy = reports["dcgan"]["feature_classifier_test_accuracy"]
    photos = ", ".join(f"`{p}`" for p in SKLEARN_PHOTOS) + " (scikit-learn's `load_sample_images()`) and " + \
        ", ".join(f"`{p}`" for p in SKIMAGE_PHOTOS) + " (bundled with scikit-image, `skimage/data`)"
    rel = {key: Path(os.path.relpath(path, ROOT / "docs")).as_posix() for key, path in figures.items()}

    body = "\n".join([
        "## Your own data: 32x32 colour photographs\n",
        f"Made by `.venv/bin/python scripts/photo_results.py` (runs in `runs/photos/`). The folder "
        f"(`scripts/photo_folder.py OUT`; `aegan data OUT`: image 3x32x32, uint8, {len(names)} classes) holds "
        f"random square crops of ten real colour photographs that Python packages ship: {photos}. One class per "
        f"photo. Each crop's side is drawn between {MIN_SHARE:.0%} and {MAX_SHARE:.0%} of the photo's shorter side "
        f"(at most the held-out strip's width), resized to 32x32 with Pillow's LANCZOS filter. The right "
        f"{HELD_OUT:.0%} of every photo is held out: the {TEST_CROPS} test crops per photo come only from that "
        f"strip and the {TRAIN_CROPS} training crops only from the rest, so no test pixel is in a training image "
        f"({crops_train:,} training and {crops_test:,} test crops in all; aegan cuts its validation split, "
        f"{len(splits.valid):,} crops, from the training folder, leaving {len(splits.train):,} to train on). The "
        "strip is often a different part of the scene (sky and trees of `china`, the dark background of "
        "`flower`, the white wall beside the astronaut), so the test split is not distributed like the "
        "training split; the floor of the generative metrics below shows how far apart they are.\n",
        "![the folder](images/photos-folder.png)\n",
        "### Training budget\n",
        f"CPU: {cpu_model()}, {os.cpu_count()} cores, shared with another process running tests (load average "
        "when each training started in the last column). Each preset's own recipe, only the epochs cut to "
        "keep a run to about 4-5 minutes; runs one at a time.\n",
        "| preset | epochs | batch | training minutes (sum of epochs) | `aegan train` wall-clock minutes | "
        "load average at start |",
        "|---|---|---|---|---|---|", *budget_rows,
        "\n### Reconstruction (test split)\n",
        "`aegan train` writes the test loss (per-pixel binary cross-entropy, averaged over the three "
        "channels; for `conv_vae` plus its latent loss); `aegan evaluate RUN` its reconstruction part, and "
        "probes of the codings (logistic regression / 5 nearest neighbours fitted on the training crops, "
        "scored on the test crops) next to PCA with as many components.\n",
        "| preset | epochs | val loss | test loss | test reconstruction loss | test rounded accuracy | "
        "coding dims | linear probe / PCA | 5-NN / PCA |",
        "|---|---|---|---|---|---|---|---|---|", *reconstruction_rows,
        "\nColour check: each photo's mean red, green and blue over its test crops, and over their "
        "reconstructions (values in [0, 1]).\n",
        "| photo | test crops R G B | " + " | ".join(f"`{p}` R G B" for p in RECONSTRUCTS) + " |",
        "|---|---|" + "---|" * len(RECONSTRUCTS), *colour_rows,
        "\n`aegan reconstruct RUN --n 10`: one validation crop of each photo, in class order (" + ", ".join(names)
        + "), above its reconstruction. The validation crops are cut from the training folder (stratified by "
        "photo), so they come from the part of each photo the models were trained on, not from the held-out "
        "strip:\n",
        *(f"![{key}]({path})" for key, path in rel.items() if "reconstructions" in key),
        "\n### Generative metrics against the folder's own test split\n",
        f"`aegan evaluate RUN` (its default `--n {GENERATIVE_N}`; it compares min(n, test crops, training "
        f"crops) = {n:,} samples): {n:,} samples of each model against {n:,} test crops spread evenly over the "
        f"test split ({'all of them, ' if n == len(splits.test) else ''}{per_photo(test_per_class)}), in the "
        "128-D feature space of the classifier aegan trains on the folder's own labelled training split "
        f"(recipe version {RECIPE['version']}, {RECIPE['epochs']} epochs; its accuracy on the test crops is "
        f"{accuracy:.4f}). The floor is the same metric for {n:,} real training crops, spread evenly over "
        f"the training split ({per_photo(floor_per_class)}), against the same test crops: what a generator of "
        "the training distribution would score with this classifier and this many samples. "
        + ("It is the same for both runs (it depends on the data, the classifier and the count only), so it "
           "has one row. " if not floors else "")
        + "It is far from a perfect score (FID 0, precision, recall and coverage 1): the test crops come from "
        "the held-out strips, not from the parts of the photos the training crops cover. Precision "
        "and density ask only whether samples fall near test crops, so a model can match the floor on them "
        + (f"(here {precise}) " if precise else "")
        + "while its recall, coverage and classes show how little of the test split its samples reach. "
        "A photo counts as covered when the classifier "
        f"gives it at least {0.1 * n / len(names):g} of the {n:,} samples (10% of an even share); the class KL "
        "is the divergence of the samples' class histogram from the test crops'.\n",
        "| | FID | KID | precision | recall | density | coverage | classes covered | class KL to test | "
        "classifier score |",
        "|---|---|---|---|---|---|---|---|---|---|", *generative_rows,
        f"\nThe classes the feature classifier gives the {n:,} samples:\n",
        *histograms,
        f"\n`aegan sample RUN -n {SAMPLE_COUNT} --seed {SAMPLE_SEED}`:\n",
        *(f"![{key}]({path})" for key, path in rel.items() if "samples" in key),
    ])
    path = write_section("photos", body)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
