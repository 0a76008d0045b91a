"""Each autoencoder family learns from the real Fashion-MNIST (a subset, so each test takes seconds)."""

import json

import numpy as np
import pytest

import aegan

QUIET = {"progress": False, "log": lambda message: None}


def train_subset(preset, tmp_path, epochs=2, subset=4000, **overrides):
    return aegan.train(preset, out=tmp_path / preset, epochs=epochs,
                       overrides={"data.train_subset": subset, **overrides}, **QUIET)


# An untrained model scores about 0.69; these bounds are what a couple of epochs on 4,000 images reach.
@pytest.mark.parametrize("preset, bound", [
    ("conv_ae", 0.40), ("recurrent_ae", 0.55), ("tied_ae", 0.38), ("denoising_gaussian_ae", 0.40),
    ("denoising_dropout_ae", 0.42), ("sparse_kl_ae", 0.55), ("sparse_l1_ae", 0.55),
])
def test_family_learns(fashion, tmp_path, preset, bound):
    run = train_subset(preset, tmp_path)
    losses = [record["val_loss"] for record in run.metrics()]
    assert losses[-1] < bound and losses[-1] < losses[0] + 1e-3, losses


def test_greedy_layer_wise_reuses_each_stage(fashion, tmp_path):
    run = aegan.train("greedy_ae", out=tmp_path / "greedy", epochs=1, progress=False, log=lambda m: None,
                      overrides={"data.train_subset": 4000, "training.pretrain_epochs": [2, 2]})
    stages = [json.loads(line) for line in (run.path / "pretrain.jsonl").read_text().splitlines()]
    assert [(s["stage"], s["epoch"]) for s in stages] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert stages[1]["val_loss"] < stages[0]["val_loss"]
    # After pretraining alone the stacked model already reconstructs; one fine-tuning epoch keeps it there.
    assert run.metrics()[-1]["val_loss"] < 0.40


def test_denoising_figure(fashion, tmp_path):
    from PIL import Image

    run = train_subset("denoising_gaussian_ae", tmp_path, epochs=1)
    path = aegan.plot_reconstructions(run, tmp_path / "denoise.png", n=4, noise=True)
    width, height = Image.open(path).size
    assert height > 0.5 * width  # three rows of four
    with pytest.raises(aegan.AeganError, match="trained without input noise"):
        aegan.plot_reconstructions(train_subset("tied_ae", tmp_path, epochs=1), noise=True)


@pytest.mark.slow
def test_sparse_kl_moves_activations_towards_the_target(fashion, tmp_path):
    plain = train_subset("sparse_kl_ae", tmp_path / "plain", epochs=2, **{"model.sparsity": "none"})
    sparse = train_subset("sparse_kl_ae", tmp_path / "kl", epochs=2)
    images = fashion.valid_images[:1000]
    plain_mean, sparse_mean = plain.encode(images).mean(), sparse.encode(images).mean()
    assert sparse_mean < plain_mean and abs(sparse_mean - 0.1) < abs(plain_mean - 0.1)
    report = aegan.api.evaluate(sparse, split="valid")
    assert report["mean_activation"] == pytest.approx(float(sparse.encode(fashion.valid_images).mean()), rel=1e-5)
    assert (sparse.path / "coding-activations.png").stat().st_size > 1000
    assert np.isfinite(report["sparsity_loss"])
