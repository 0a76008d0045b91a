"""Checkpoints: safetensors + JSON, atomic, restorable, and intact after SIGKILL."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from aegan.errors import AeganError
from aegan.models import DenseAutoencoder, DenseAutoencoderConfig
from aegan.runs import Run
from aegan.training.checkpoint import load_checkpoint, restore, save_checkpoint
from aegan.training.optimizers import build_optimizer

TINY = DenseAutoencoderConfig(input_shape=(3, 4), hidden_sizes=(5,), coding_size=2,
                              reconstruction_loss="binary_crossentropy")


def trained_tiny(optimizer_name="rmsprop", steps=3):
    torch.manual_seed(0)
    model = DenseAutoencoder(TINY)
    optimizer = build_optimizer(optimizer_name, model.parameters(), 0.01, momentum=0.5)
    for _ in range(steps):
        optimizer.zero_grad()
        model.loss_terms(torch.rand(4, 3, 4))["loss"].backward()
        optimizer.step()
    return model, optimizer


def test_roundtrip_restores_weights_optimizer_and_random_state(tmp_path):
    model, optimizer = trained_tiny()
    shuffle = torch.Generator().manual_seed(5)
    save_checkpoint(tmp_path, 1, 3, model, optimizer, {"shuffle": shuffle}, metrics={"loss": 1.0})
    expected_draw, expected_shuffle = torch.rand(3), torch.randperm(10, generator=shuffle)

    tensors, state = load_checkpoint(tmp_path)
    assert state["epoch"] == 1 and state["metrics"] == {"loss": 1.0}
    fresh = DenseAutoencoder(TINY)
    fresh_optimizer = build_optimizer("rmsprop", fresh.parameters(), 0.01, momentum=0.5)
    fresh_shuffle = torch.Generator()
    restore(tensors, state, fresh, fresh_optimizer, {"shuffle": fresh_shuffle})
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(torch.rand(3), expected_draw)
    assert torch.equal(torch.randperm(10, generator=fresh_shuffle), expected_shuffle)
    # The next optimizer step is the same as the uninterrupted one.
    batch = torch.rand(4, 3, 4)
    for m, o in ((model, optimizer), (fresh, fresh_optimizer)):
        o.zero_grad()
        m.loss_terms(batch)["loss"].backward()
        o.step()
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)


def test_files_are_safetensors_and_json_not_pickle(tmp_path):
    model, optimizer = trained_tiny()
    save_checkpoint(tmp_path, 1, 3, model, optimizer)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["epoch-0001.json", "epoch-0001.safetensors"]
    assert json.loads((tmp_path / "epoch-0001.json").read_text())["format"] == "aegan-checkpoint/1"
    header_size = int.from_bytes((tmp_path / "epoch-0001.safetensors").read_bytes()[:8], "little")
    header = json.loads((tmp_path / "epoch-0001.safetensors").read_bytes()[8:8 + header_size])
    assert "model.encoder.0.weight" in header and "optimizer.0.square_avg" in header


def test_newest_complete_checkpoint_wins_and_old_ones_are_pruned(tmp_path):
    model, optimizer = trained_tiny()
    for epoch in (1, 2, 3):
        save_checkpoint(tmp_path, epoch, epoch, model, optimizer)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["epoch-0002.json", "epoch-0003.json"]
    # A damaged newest tensor file (as a crash of another writer could leave) falls back to epoch 2.
    (tmp_path / "epoch-0003.safetensors").write_bytes(b"garbage")
    assert load_checkpoint(tmp_path)[1]["epoch"] == 2
    for path in tmp_path.iterdir():
        path.unlink()
    with pytest.raises(AeganError, match="no complete checkpoint"):
        load_checkpoint(tmp_path)


def test_sigkill_mid_epoch_leaves_a_loadable_checkpoint(fashion, tmp_path):
    run_dir = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "aegan", "train", "stacked_ae", "--epochs", "50",
                                "--out", str(run_dir), "--quiet"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while not (run_dir / "checkpoints" / "epoch-0002.json").exists():
            assert process.poll() is None and time.time() < deadline, "training stopped early"
            time.sleep(0.05)
        time.sleep(0.4)  # well inside epoch 3
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    run = Run(run_dir)
    assert run.epoch >= 2
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) >= 2 and json.loads(lines[-1])["epoch"] >= 2
    images = fashion.valid_images[:200]
    reconstructions = run.reconstruct(images)
    assert reconstructions.shape == (200, 1, 28, 28)
    error = abs(reconstructions - images[:, None] / 255.0).mean()
    assert error < 0.12  # trained weights, not a fresh model (about 0.45 untrained)
