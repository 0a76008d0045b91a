"""Training on your own data: image folders, arrays and tables of any shape, every family, end to end.

Each test makes a tiny data set in tmp_path and trains for one short epoch: seconds each.
"""

import csv
import json

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file

import aegan
from aegan.data.sources import load_splits
from aegan.config import DataConfig
from aegan.errors import AeganError

QUIET = {"progress": False, "log": lambda message: None}
SMALL = {"training.num_epochs": 1, "training.batch_size": 8}


def image_folder(root, size=(24, 40), mode="RGB", classes=("circles", "squares"), per_class=12, seed=0):
    """Class subfolders of small drawn images (height, width = size)."""
    rng = np.random.default_rng(seed)
    height, width = size
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.zeros((height, width, 3), dtype=np.uint8)
            top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
            pixels[top:top + height // 2, left:left + width // 2, index % 3] = 200 + rng.integers(0, 55)
            Image.fromarray(pixels).convert(mode).save(root / name / f"{i:03d}.png")
    return root


def table_csv(path, rows=120, seed=0, outliers=()):
    """Points near a line in 4-D with a label column; rows listed in `outliers` are off the line."""
    rng = np.random.default_rng(seed)
    t = rng.normal(size=rows)
    values = np.stack([t, 2 * t + 1, -t, 0.5 * t], axis=1) * 10 + rng.normal(scale=0.3, size=(rows, 4))
    for row in outliers:
        values[row] = rng.normal(scale=25, size=4)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "c", "d", "kind"])
        for row, (a, b, c, d) in enumerate(values):
            writer.writerow([a, b, c, d, "x" if t[row] > 0 else "y"])
    return path


@pytest.mark.parametrize("preset", ["conv_ae", "conv_vae", "dcgan", "stacked_ae", "vae", "gan", "cgan"])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_every_image_family_trains_on_a_non_square_folder(tmp_path, preset, mode):
    folder = image_folder(tmp_path / "images", mode=mode)
    run = aegan.train(preset, data=folder, out=tmp_path / "run", overrides=SMALL, **QUIET)
    channels = 3 if mode == "RGB" else 1
    assert run.spec.shape == (channels, 24, 40) and run.spec.class_names == ("circles", "squares")
    assert tuple(run.config.model.input_shape) == (channels, 24, 40)
    spec_on_disk = json.loads((run.path / "data_spec.json").read_text())
    assert spec_on_disk["shape"] == [channels, 24, 40] and spec_on_disk["scaling"] == "divide_255"
    if run.can("sample"):
        samples = aegan.sample(run, n=3)
        assert samples.shape == (3, channels, 24, 40) and 0 <= samples.min() and samples.max() <= 1
    if run.can("reconstruct"):
        valid = np.asarray(run.splits().valid.samples)
        assert run.reconstruct(valid).shape == valid.shape
        assert run.encode(valid).shape[0] == len(valid)


def test_a_run_samples_with_every_data_folder_hidden(tmp_path, monkeypatch):
    folder = image_folder(tmp_path / "images")
    run = aegan.train("conv_vae", data=folder, out=tmp_path / "run", overrides=SMALL, **QUIET)
    for child in folder.iterdir():  # the training data is gone ...
        for file in child.iterdir():
            file.unlink()
        child.rmdir()
    folder.rmdir()
    import aegan.data.fashion_mnist as fm

    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))  # ... and so is every place Fashion-MNIST could be
    monkeypatch.setenv("AEGAN_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "no-debian")
    reloaded = aegan.Run(run.path)
    assert aegan.sample(reloaded, n=2).shape == (2, 3, 24, 40)
    assert aegan.plot_samples(reloaded, tmp_path / "samples.png", n=4).stat().st_size > 1000
    assert aegan.plot_interpolations(reloaded, tmp_path / "interpolations.png").stat().st_size > 1000
    with pytest.raises(AeganError, match="does not exist"):
        aegan.encode(reloaded)  # what needs the data says so in one line


def test_every_autoencoder_preset_trains_on_a_table_as_it_is(tmp_path):
    path = table_csv(tmp_path / "points.csv")
    # The seed's SGD learning rates (1.0-1.5) were tuned for BCE on pixels; on a standardised table
    # they diverge, so the table gets a smaller one (a diverging run stops with one line: see below).
    for preset in ["stacked_ae", "tied_ae", "denoising_gaussian_ae", "vae", "linear_pca"]:
        run = aegan.train(preset, data=path, out=tmp_path / preset,
                          overrides={**SMALL, "data.label_column": "kind", "training.learning_rate": 0.02}, **QUIET)
        assert run.spec.layout == "table" and run.spec.shape == (4,) and run.spec.scaling == "standardize"
        assert run.spec.feature_names == ("a", "b", "c", "d") and run.spec.class_names == ("x", "y")
        assert run.config.model.reconstruction_loss == "mse", preset  # standardised data: linear output, MSE
        assert np.isfinite(run.metrics()[-1]["val_loss"])
        if preset == "stacked_ae":  # a table's reconstructions are drawn as lines
            assert aegan.plot_reconstructions(run, tmp_path / "table.png", n=3).stat().st_size > 1000
    with pytest.raises(AeganError, match="diverged in epoch 1.*Lower training.learning_rate"):
        aegan.train("stacked_ae", data=path, out=tmp_path / "diverges",
                    overrides={**SMALL, "data.label_column": "kind", "training.learning_rate": 50.0}, **QUIET)
    # no NaN checkpoint: only epoch 0's, the first weights
    assert [p.name for p in (tmp_path / "diverges" / "checkpoints").glob("*.json")] == ["epoch-0000.json"]


def test_score_ranks_planted_outliers_of_a_csv_first(tmp_path):
    from sklearn.metrics import roc_auc_score

    planted = list(range(0, 120, 12))
    train_path = table_csv(tmp_path / "train.csv", rows=400, seed=1)
    test_path = table_csv(tmp_path / "test.csv", rows=120, seed=2, outliers=planted)
    run = aegan.train("stacked_ae", data=train_path, out=tmp_path / "run",
                      overrides={"training.num_epochs": 30, "training.batch_size": 16, "training.learning_rate": 0.01,
                                 "data.label_column": "kind", "model.hidden_sizes": [16], "model.coding_size": 1},
                      **QUIET)
    out, scores = aegan.score(run, test_path, out=tmp_path / "scores.csv", contamination=0.1)
    rows = list(csv.DictReader(open(out)))
    assert list(rows[0]) == ["index", "score", "outlier"]
    assert [float(r["score"]) for r in rows] == sorted((float(r["score"]) for r in rows), reverse=True)
    truth = np.isin(np.arange(120), planted)
    assert roc_auc_score(truth, scores) > 0.9
    flagged = {int(r["index"]) for r in rows if r["outlier"] == "1"}
    assert len(flagged) == 12 and len(flagged & set(planted)) >= 8


def test_streamed_npy_gives_the_same_weights_as_in_memory(tmp_path):
    array = (np.random.default_rng(0).random((90, 1, 12, 12)) * 255).astype(np.uint8)
    np.save(tmp_path / "images.npy", array)
    weights = []
    for stream in ("never", "always"):
        run = aegan.train("conv_ae", data=tmp_path / "images.npy", out=tmp_path / stream,
                          overrides={**SMALL, "training.num_epochs": 2, "data.stream": stream}, **QUIET)
        assert json.loads((run.path / "run.json").read_text())["streamed"] == (stream == "always")
        newest = sorted((run.path / "checkpoints").glob("*.safetensors"))[-1]
        weights.append({k: v for k, v in load_file(newest).items() if k.startswith("model.")})
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        assert np.array_equal(weights[0][key].numpy(), weights[1][key].numpy()), key


def test_uint8_arrays_are_scaled_and_float_arrays_outside_unit_range_standardised(tmp_path):
    np.save(tmp_path / "bytes.npy", np.full((30, 6), 200, dtype=np.uint8))
    np.save(tmp_path / "floats.npy", np.random.default_rng(0).normal(5, 3, (30, 6)).astype(np.float32))
    spec = load_splits(DataConfig(path=str(tmp_path / "bytes.npy"))).spec
    assert spec.scaling == "divide_255" and spec.unit_range
    spec = load_splits(DataConfig(path=str(tmp_path / "floats.npy"))).spec
    assert spec.scaling == "standardize" and not spec.unit_range and len(spec.mean) == 6


def test_split_folders_are_used_and_fraction_splits_are_stratified(tmp_path):
    image_folder(tmp_path / "split" / "train", per_class=10)
    image_folder(tmp_path / "split" / "test", per_class=4, seed=1)
    splits = load_splits(DataConfig(path=str(tmp_path / "split")), seed=3)
    assert len(splits.test) == 8 and len(splits.train) + len(splits.valid) == 20
    splits = load_splits(DataConfig(path=str(image_folder(tmp_path / "whole", per_class=20)),
                                    validation_fraction=0.2, test_fraction=0.2), seed=3)
    assert np.bincount(splits.valid.labels).tolist() == [4, 4] and np.bincount(splits.test.labels).tolist() == [4, 4]


def test_recurrent_autoencoder_takes_sequences(tmp_path):
    sequences = np.sin(np.linspace(0, 6, 15))[None, :, None] * np.random.default_rng(0).random((40, 1, 3))
    np.save(tmp_path / "sequences.npy", sequences.astype(np.float32))
    run = aegan.train("recurrent_ae", data=tmp_path / "sequences.npy", out=tmp_path / "run", overrides=SMALL, **QUIET)
    assert run.spec.layout == "sequence" and tuple(run.config.model.input_shape) == (15, 3)
    assert run.reconstruct(np.asarray(run.splits().test.samples)).shape[1:] == (15, 3)


def test_unlabelled_square_images_train_and_evaluate_on_their_own_terms(tmp_path, monkeypatch):
    monkeypatch.setenv("AEGAN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "flat"
    image_folder(tmp_path / "labelled", size=(16, 16), per_class=15)
    folder.mkdir()
    for index, file in enumerate(sorted((tmp_path / "labelled").rglob("*.png"))):
        file.rename(folder / f"{index:03d}.png")  # no class subfolders: no labels
    for preset in ("conv_ae", "dcgan"):
        run = aegan.train(preset, data=folder, out=tmp_path / preset, overrides=SMALL, **QUIET)
        assert run.spec.shape == (3, 16, 16) and not run.spec.has_labels
        result = aegan.evaluate(run, log=lambda message: None)
        if preset == "conv_ae":
            assert np.isfinite(result["loss"]) and "need class labels" in result["representation_metrics"]
        else:
            assert "need a feature classifier trained on class labels" in result["generative_metrics"]
            assert "fid" not in result


def test_labelled_arrays_train_a_conditional_gan_on_their_own_classes(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", images=rng.integers(0, 256, (60, 12, 12, 3), dtype=np.uint8),
             labels=np.repeat(["cat", "dog", "owl"], 20))
    run = aegan.train("cgan", data=tmp_path / "data.npz", out=tmp_path / "run", overrides=SMALL, **QUIET)
    assert run.spec.shape == (3, 12, 12) and run.spec.class_names == ("cat", "dog", "owl")
    assert run.config.model.num_classes == 3
    assert aegan.sample(run, n=4, label=2).shape == (4, 3, 12, 12)
    with pytest.raises(AeganError, match="from 0 to 2"):
        aegan.sample(run, n=1, label=3)


def test_score_works_on_image_folders_and_sequences(tmp_path):
    folder = image_folder(tmp_path / "images", size=(12, 12), per_class=10)
    run = aegan.train("conv_ae", data=folder, out=tmp_path / "images-run", overrides=SMALL, **QUIET)
    out, scores = aegan.score(run, folder / "squares", out=tmp_path / "images.csv")
    rows = list(csv.DictReader(open(out)))
    assert list(rows[0]) == ["index", "path", "score", "outlier"] and len(rows) == 10 == len(scores)
    assert sorted(r["path"] for r in rows) == [f"{i:03d}.png" for i in range(10)]
    sequences = np.cumsum(np.random.default_rng(0).normal(size=(40, 10, 2)), axis=1).astype(np.float32)
    np.save(tmp_path / "walks.npy", sequences)
    run = aegan.train("recurrent_ae", data=tmp_path / "walks.npy", out=tmp_path / "walks-run", overrides=SMALL,
                      **QUIET)
    _, scores = aegan.score(run, tmp_path / "walks.npy", out=tmp_path / "walks.csv")
    assert scores.shape == (40,) and np.isfinite(scores).all()


def test_aegan_data_describes_a_folder(tmp_path, capsys):
    from aegan.cli import main

    folder = image_folder(tmp_path / "images", size=(12, 20), per_class=10)
    assert main(["data", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "image 3x12x20 (uint8, divide_255, 2 classes)" in out and "classes: circles, squares" in out
    assert "train 16  valid 2  test 2" in out
