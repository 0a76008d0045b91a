"""Every user error: one line on stderr, exit status 2, no traceback, nothing overwritten."""

import os
import subprocess
import sys

import pytest

from conftest import run_cli


def assert_user_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_presets_lists_every_recipe_by_its_fixed_name():
    result = run_cli("presets")
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert result.returncode == 0
    assert set(listed) >= {"linear_pca", "linear_pca_fashion", "stacked_ae", "tied_ae", "greedy_ae", "conv_ae",
                           "recurrent_ae", "denoising_gaussian_ae", "denoising_dropout_ae", "sparse_l1_ae",
                           "sparse_kl_ae", "vae", "conv_vae", "gan", "dcgan", "cgan"}


def test_unknown_preset_suggests_the_closest(tmp_path):
    assert_user_error(run_cli("train", "stacked_a", "--out", tmp_path / "r"), "unknown preset 'stacked_a'",
                      "did you mean 'stacked_ae'", "aegan presets")
    assert not (tmp_path / "r").exists()


def test_unknown_set_key_suggests_the_closest(tmp_path):
    result = run_cli("train", "stacked_ae", "--set", "training.learnin_rate=0.1", "--out", tmp_path / "r")
    assert_user_error(result, "training.learnin_rate", "did you mean 'training.learning_rate'")
    assert not (tmp_path / "r").exists()


def test_bad_set_value(tmp_path):
    result = run_cli("train", "stacked_ae", "--set", "model.coding_size=big", "--out", tmp_path / "r")
    assert_user_error(result, "model.coding_size='big'", "whole number")


@pytest.mark.parametrize("value, expected", [("abc", "'abc'"), ("-3", "-3"), ("0", "0")])
def test_bad_epoch_count(tmp_path, value, expected):
    assert_user_error(run_cli("train", "stacked_ae", "--epochs", value, "--out", tmp_path / "r"),
                      "--epochs", expected)


def test_no_data_creates_nothing(tmp_path):
    # A subprocess whose search path is empty: HOME and $AEGAN_DATA_DIR point nowhere, and the
    # Debian folder is replaced before the CLI runs.
    env = {**os.environ, "HOME": str(tmp_path), "AEGAN_DATA_DIR": str(tmp_path / "nothing")}
    code = ("import pathlib, sys; import aegan.data.fashion_mnist as fm; "
            "fm.DEBIAN_DIR = pathlib.Path(sys.argv[1]); from aegan.cli import main; sys.exit(main(sys.argv[2:]))")
    result = subprocess.run([sys.executable, "-c", code, tmp_path / "no-debian", "train", "stacked_ae",
                             "--out", tmp_path / "r"], capture_output=True, text=True, env=env)
    assert_user_error(result, "Fashion-MNIST not found", "apt-get install dataset-fashion-mnist",
                      "AEGAN_DATA_DIR")
    assert not (tmp_path / "r").exists()


def test_output_folder_holding_a_run_is_left_alone(trained_run):
    before = snapshot(trained_run.path)
    result = run_cli("train", "stacked_ae", "--epochs", "1", "--out", trained_run.path)
    assert_user_error(result, "already holds another run", "--out")
    assert snapshot(trained_run.path) == before


def test_unwritable_output_folder(fashion, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert_user_error(run_cli("train", "stacked_ae", "--epochs", "1", "--out", blocker / "run"),
                      "cannot write to output folder", "writable --out")
    assert blocker.read_text() == "not a folder"


def test_reconstruct_on_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    assert_user_error(run_cli("reconstruct", tmp_path), "is not a run folder", "aegan train")
    assert_user_error(run_cli("encode", tmp_path / "missing"), "is not a run folder")
    assert snapshot(tmp_path) == {tmp_path / "notes.txt": b"hello"}


def test_reconstruct_and_encode_write_figures_and_codings(trained_run, tmp_path):
    import numpy as np
    from PIL import Image

    result = run_cli("reconstruct", trained_run.path, "--n", "4", "--out", tmp_path / "rec.png")
    assert result.returncode == 0, result.stderr
    width, height = Image.open(tmp_path / "rec.png").size
    assert width > 1.5 * height  # two rows of four images
    result = run_cli("encode", trained_run.path, "--split", "test", "--out", tmp_path / "c.npy",
                     "--plot", tmp_path / "tsne.png", "--max-points", "300")
    assert result.returncode == 0, result.stderr
    codings = np.load(tmp_path / "c.npy")
    assert codings.shape == (10000, 30) and np.isfinite(codings).all() and codings.std(0).min() > 0
    assert Image.open(tmp_path / "tsne.png").size[0] > 300


@pytest.mark.slow  # umap-learn compiles its numba kernels on first use
def test_encode_draws_the_umap_map(trained_run, tmp_path):
    from PIL import Image

    result = run_cli("encode", trained_run.path, "--method", "umap", "--plot", tmp_path / "umap.png",
                     "--max-points", "500", "--out", tmp_path / "c.npy")
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "umap.png").size[0] > 300
    assert str(tmp_path / "umap.png") in result.stdout
