"""A diverging run stops with exit status 3 and one line; no NaN reaches a file; configs are finite."""

import json

import numpy as np
import aegan
import pytest

from aegan.cli import EXIT_DIVERGED
from aegan.files import atomic_write_json
from aegan.runs import Run
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
    assert f"`aegan train --resume {out} --set training.learning_rate=50`" in line
    assert not (out / "metrics.jsonl").exists()  # nothing NaN was written
    # the run's previous checkpoint (epoch 0, its first weights) still reconstructs, finitely
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch-0000.json", "epoch-0000.safetensors"]
    reconstructions = Run(out).reconstruct(np.load(table)[:10])
    assert np.isfinite(reconstructions).all()
    # and the run goes on from it at a lower rate, as the message says
    result = run_cli("train", "--resume", out, "--quiet", "--set", "training.learning_rate=0.01")
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "config.json").read_text())["training"]["learning_rate"] == 0.01
    assert all(np.isfinite(record["loss"]) for record in Run(out).metrics())


@pytest.mark.parametrize("preset", ["stacked_ae", "vae", "gan"])
def test_weights_blown_up_but_finite_never_become_the_newest_checkpoint(tmp_path, preset):
    """Checkpoints every step: the weights the divergence left (finite or not) are refused, so
    the newest checkpoint still reconstructs or samples, finitely."""
    data = tmp_path / "images.npy"
    np.save(data, (np.random.default_rng(0).random((200, 1, 8, 8)) * 255).astype(np.uint8))
    out = tmp_path / "run"
    result = run_cli("train", preset, "--data", data, "--out", out, "--quiet", "--batch-size", "8",
                     "--set", "training.learning_rate=1e6", "--set", "training.checkpoint_every_steps=1",
                     "--set", "training.keep_checkpoints=1")
    assert result.returncode == 3, result.stderr
    assert "training diverged in epoch 1, step" in result.stderr
    run = Run(out)
    outputs = aegan.sample(run, 16, seed=0) if not run.can("reconstruct") else \
        run.reconstruct(np.load(data)[:16])
    assert np.isfinite(outputs).all()


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



def test_a_resumed_run_remembers_its_best_loss(table, tmp_path):
    out = tmp_path / "run"
    assert run_cli("train", "stacked_ae", "--data", table, "--out", out, "--quiet", "--epochs", "3",
                   "--set", "training.learning_rate=0.05").returncode == 0
    for file in (out / "checkpoints").glob("epoch-0003.*"):
        file.unlink()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    records[0]["loss"] = records[2]["loss"] / 20  # as if epoch 1 had been far better than epoch 3 turns out
    (out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    result = run_cli("train", "--resume", out, "--quiet")
    assert result.returncode == 3 and "training diverged in epoch 3" in result.stderr
    assert "rose past 20x its best" in result.stderr
