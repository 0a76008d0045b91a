"""training.tensorboard: event files that hold what the run recorded, and the same weights as without."""

import hashlib
import io
import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import aegan
from aegan.config import TrainingConfig, load_config
from aegan.errors import AeganError

QUIET = {"progress": False, "log": lambda message: None}
TINY = {"training.num_epochs": 2, "training.batch_size": 16}
SMALL_MODELS = {
    "stacked_ae": {"model.hidden_sizes": [16], "model.coding_size": 4},
    "vae": {"model.hidden_sizes": [16], "model.coding_size": 3},
    "dcgan": {"model.coding_size": 8, "model.generator_channels": [8, 4], "model.discriminator_channels": [4, 8],
              "training.batch_size": 48},
}
CLASS_NAMES = ("boot", "coat", "shirt")
SIZE_GUIDANCE = {kind: 0 for kind in ("scalars", "images", "histograms", "tensors", "compressedHistograms", "audio")}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """300 grayscale 8x8 images with three named classes, and a table of 300 rows."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    images = (rng.random((300, 1, 8, 8)) * 255).astype(np.uint8)
    np.savez(folder / "images.npz", x=images, labels=np.array(CLASS_NAMES)[rng.integers(0, 3, 300)])
    np.save(folder / "table.npy", rng.normal(size=(300, 6)).astype(np.float32))
    return folder


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """Runs with TensorBoard on (stacked_ae, vae, dcgan) and off (vae, dcgan), trained once for all tests."""
    folder = tmp_path_factory.mktemp("runs")
    trained = {}
    for preset in ("stacked_ae", "vae", "dcgan"):
        for on in (True, False):
            if preset == "stacked_ae" and not on:
                continue
            overrides = {**TINY, **SMALL_MODELS[preset], "training.tensorboard": on}
            trained[preset, on] = aegan.train(preset, data=data / "images.npz", out=folder / f"{preset}-{on}",
                                              overrides=overrides, **QUIET)
    return trained


def events(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run.path / "tensorboard"), size_guidance=SIZE_GUIDANCE)
    accumulator.Reload()
    return accumulator


def newest_checkpoint_sha(run) -> str:
    newest = sorted((run.path / "checkpoints").glob("epoch-*.safetensors"))[-1]
    return hashlib.sha256(newest.read_bytes()).hexdigest()


def projector_folder(run):
    return run.path / "tensorboard" / f"{run.config.training.num_epochs:05d}" / "codings"


def assert_scalars_are_the_metrics(run):
    accumulator = events(run)
    metrics = run.metrics()
    names = {name for record in metrics for name in record} - {"epoch"}
    assert set(accumulator.Tags()["scalars"]) == names
    for name in names:
        scalars = accumulator.Scalars(name)
        assert [scalar.step for scalar in scalars] == [record["epoch"] for record in metrics]
        assert [scalar.value for scalar in scalars] == [float(np.float32(record[name])) for record in metrics]


@pytest.mark.parametrize("preset", ["stacked_ae", "vae", "dcgan"])
def test_the_scalars_are_the_metrics_of_every_epoch(runs, preset):
    assert_scalars_are_the_metrics(runs[preset, True])
    assert {"loss", "d_loss"} & set(runs[preset, True].metrics()[0])


@pytest.mark.parametrize("preset", ["vae", "dcgan"])
def test_a_run_with_tensorboard_ends_with_the_same_weights_as_one_without(runs, preset):
    assert newest_checkpoint_sha(runs[preset, True]) == newest_checkpoint_sha(runs[preset, False])
    assert not (runs[preset, False].path / "tensorboard").exists()


def test_autoencoder_images_show_validation_images_above_their_reconstructions(runs):
    run = runs["stacked_ae", True]
    images = events(run).Images("reconstructions")
    assert [image.step for image in images] == [1, 2]
    assert {(image.width, image.height) for image in images} == {(8 * 9 + 1, 2 * 9 + 1)}  # 8 pairs, 1-pixel lines
    picture = np.asarray(Image.open(io.BytesIO(images[-1].encoded_image_string)).convert("L"), dtype=np.int16)
    valid = np.asarray(run.splits().valid.samples, dtype=np.int16)[:, 0]
    top = [picture[1:9, 1 + 9 * column:9 + 9 * column] for column in range(8)]
    for tile in top:  # each a validation image (to within the PNG's rounding)
        assert np.abs(valid - tile).max(axis=(1, 2)).min() <= 1
    assert (picture[0] == 255).all() and (picture[9] == 255).all()
    reconstruction = picture[10:18, 1:9]
    assert np.abs(reconstruction - top[0]).max() > 1  # not the original again


def test_gan_images_are_the_grid_of_samples_of_every_epoch(runs):
    images = events(runs["dcgan", True]).Images("samples")
    assert [image.step for image in images] == [1, 2]
    assert {(image.width, image.height) for image in images} == {(8 * 9 + 1, 4 * 9 + 1)}
    assert images[0].encoded_image_string != images[1].encoded_image_string


def test_histograms_of_codings_and_of_the_discriminators_logits(runs):
    for preset, tags in (("stacked_ae", ["codings"]), ("vae", ["codings", "codings_log_variance"]),
                         ("dcgan", ["discriminator_logits/real", "discriminator_logits/fake"])):
        run = runs[preset, True]
        accumulator = events(run)
        assert sorted(accumulator.Tags()["histograms"]) == sorted(tags)
        for tag in tags:
            histograms = accumulator.Histograms(tag)
            assert [histogram.step for histogram in histograms] == [1, 2]
            values = histograms[-1].histogram_value
            if preset == "dcgan":
                assert values.num == (128 if tag.endswith("real") else 32)  # fixed reals, the 4x8 grid's fakes
            else:
                assert values.num == len(run.splits().valid) * run.config.model.coding_size
            assert math.isfinite(values.sum) and values.max > values.min


@pytest.mark.parametrize("preset", ["stacked_ae", "vae"])
def test_the_projector_holds_the_validation_codings_with_class_names_and_a_sprite(runs, preset):
    run = runs[preset, True]
    folder = projector_folder(run)
    valid = run.splits().valid
    tensors = np.loadtxt(folder / "tensors.tsv", delimiter="\t", ndmin=2)
    assert tensors.shape == (len(valid), run.config.model.coding_size)
    np.testing.assert_allclose(tensors, run.encode(valid.samples), rtol=1e-5, atol=1e-6)
    names = (folder / "metadata.tsv").read_text().splitlines()
    assert names == [run.spec.class_names[label] for label in valid.labels]
    assert set(names) <= set(CLASS_NAMES)
    side = math.ceil(math.sqrt(len(valid))) * 8
    assert Image.open(folder / "sprite.png").size == (side, side)
    config = (run.path / "tensorboard" / "projector_config.pbtxt").read_text()
    assert "00002/codings/tensors.tsv" in config and "00002/codings/sprite.png" in config


def test_the_gan_projector_holds_discriminator_features_of_reals_and_fakes(runs):
    run = runs["dcgan", True]
    folder = projector_folder(run)
    count = len(run.splits().train)
    tensors = np.loadtxt(folder / "tensors.tsv", delimiter="\t", ndmin=2)
    assert tensors.shape == (2 * count, run.model.discriminator.output.in_features)
    rows = [line.split("\t") for line in (folder / "metadata.tsv").read_text().splitlines()]
    assert rows[0] == ["source", "class"]
    assert [row[0] for row in rows[1:]] == ["real"] * count + ["generated"] * count
    assert {row[1] for row in rows[1:count + 1]} <= set(CLASS_NAMES)
    assert (folder / "sprite.png").is_file()


def test_a_table_run_writes_scalars_histograms_and_codings_but_no_images(data, tmp_path):
    overrides = {**TINY, **SMALL_MODELS["stacked_ae"], "training.learning_rate": 0.05, "training.tensorboard": True}
    run = aegan.train("stacked_ae", data=data / "table.npy", out=tmp_path / "table", overrides=overrides, **QUIET)
    assert_scalars_are_the_metrics(run)
    accumulator = events(run)
    assert accumulator.Tags()["images"] == []
    assert accumulator.Tags()["histograms"] == ["codings"]
    folder = projector_folder(run)
    assert np.loadtxt(folder / "tensors.tsv", delimiter="\t", ndmin=2).shape == (30, 4)
    assert not (folder / "sprite.png").exists() and not (folder / "metadata.tsv").exists()


def test_a_resumed_run_shows_each_epoch_once_and_ends_as_an_uninterrupted_one(runs, tmp_path):
    full = runs["stacked_ae", True]
    cut = tmp_path / "cut"
    shutil.copytree(full.path, cut)
    for file in (cut / "checkpoints").glob("epoch-0002.*"):  # as if killed at the end of epoch 2
        file.unlink()
    resumed = aegan.resume(cut, **QUIET)
    assert newest_checkpoint_sha(resumed) == newest_checkpoint_sha(full)
    assert len(list((cut / "tensorboard").glob("events.out.tfevents.*"))) == 2
    assert_scalars_are_the_metrics(resumed)  # epoch 2 written twice, shown once: the resumed one
    assert [image.step for image in events(resumed).Images("reconstructions")] == [1, 2]
    assert (projector_folder(resumed) / "tensors.tsv").is_file()


def test_without_the_package_training_stops_before_making_a_folder(data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    with pytest.raises(AeganError) as error:
        aegan.train("stacked_ae", data=data / "images.npz", out=tmp_path / "run",
                    overrides={**TINY, "training.tensorboard": True}, **QUIET)
    assert str(error.value) == ("training.tensorboard=true needs the tensorboard package: "
                                "pip install 'aegan[tensorboard]'")
    assert not (tmp_path / "run").exists()


def test_the_option_is_a_checked_boolean_that_is_off_by_default():
    assert TrainingConfig().tensorboard is False
    assert load_config("stacked_ae", {"training.tensorboard": True}).training.tensorboard is True
    with pytest.raises(AeganError, match=r"training.tensorboard='yes': expected true or false"):
        load_config("stacked_ae", {"training.tensorboard": "yes"})
    with pytest.raises(AeganError, match=r"training.tensorboard=1: expected true or false"):
        TrainingConfig(tensorboard=1)


def test_a_run_without_the_option_never_imports_tensorboard(data, tmp_path):
    script = (f"import sys, aegan\n"
              f"aegan.train('stacked_ae', data={str(data / 'images.npz')!r}, out={str(tmp_path / 'run')!r}, "
              f"overrides={json.dumps({**TINY, **SMALL_MODELS['stacked_ae']})}, progress=False, log=print)\n"
              "print(sorted(name for name in sys.modules if 'tensorboard' in name))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
    assert not (tmp_path / "run" / "tensorboard").exists()
