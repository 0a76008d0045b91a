"""A diverging run stops with exit status 3 and one line; no NaN reaches a file; configs are finite."""

import json

import numpy as np
import pytest

from aegan.cli import EXIT_DIVERGED
from aegan.files import atomic_write_json
from test_data_errors_cli import run_cli


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "points.npy"
    np.save(path, np.random.default_rng(0).normal(size=(4000, 4)).astype(np.float32))  # 100 steps of 32 an epoch
    return path


def test_a_diverging_run_stops_within_the_first_epoch_with_its_own_status(table, tmp_path):
    out = tmp_path / "run"
    result = run_cli("train", "stacked_ae", "--data", table, "--out", out, "--quiet",
                     "--set", "training.learning_rate=500")
    assert result.returncode == EXIT_DIVERGED == 3
    line = result.stderr.strip().splitlines()[-1]
    assert "training diverged in epoch 1, step 100" in line and "learning_rate (now 500)" in line
    assert not list((out / "checkpoints").glob("*")) if (out / "checkpoints").exists() else True
    assert not (out / "metrics.jsonl").exists()  # nothing NaN was written


def test_a_diverging_greedy_stage_stops_too(table, tmp_path):
    result = run_cli("train", "greedy_ae", "--data", table, "--out", tmp_path / "run", "--quiet",
                     "--set", "training.pretrain_learning_rates=[500, 500]", "--set", "training.pretrain_epochs=[1, 1]")
    assert result.returncode == 3 and "training diverged in epoch 1" in result.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_config_values_are_user_errors_before_any_folder(table, tmp_path, value):
    out = tmp_path / "run"
    result = run_cli("train", "stacked_ae", "--data", table, "--out", out, "--set", f"training.learning_rate={value}")
    assert result.returncode == 2 and "training.learning_rate" in result.stderr and "finite" in result.stderr
    assert not out.exists()
    result = run_cli("train", "stacked_ae", "--data", table, "--out", out, "--set", f"model.noise_level={value}")
    assert result.returncode == 2 and "model.noise_level" in result.stderr and not out.exists()


def test_divergence_factor_is_checked(table, tmp_path):
    result = run_cli("train", "stacked_ae", "--data", table, "--out", tmp_path / "r", "--set",
                     "training.divergence_factor=0.5")
    assert result.returncode == 2 and "training.divergence_factor=0.5" in result.stderr


def test_json_files_are_strict(tmp_path):
    path = atomic_write_json(tmp_path / "x.json", {"a": float("nan"), "b": [1.0, float("inf")], "c": 2})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": 2}


def test_an_explicit_data_dir_is_the_only_place_looked_in(tmp_path, monkeypatch):
    import aegan.data.fashion_mnist as fm

    assert fm.search_path(tmp_path / "mine") == [tmp_path / "mine"]
    result = run_cli("data", "--data-dir", tmp_path / "mine")
    assert result.returncode == 2 and str(tmp_path / "mine") in result.stderr
    assert "fashion-mnist" not in result.stderr.split("looked in")[1].split(")")[0].replace(str(tmp_path), "")

