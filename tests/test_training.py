"""Training on the real data: the run folder, its metrics, and what one epoch learns."""

import json

import numpy as np
import pytest
import torch

import aegan
from aegan.config import load_config
from aegan.errors import AeganError


def test_run_folder_contents(trained_run):
    path = trained_run.path
    config = json.loads((path / "config.json").read_text())
    assert config["name"] == "stacked_ae" and config["training"]["num_epochs"] == 1
    (record,) = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    assert set(record) == {"epoch", "loss", "val_loss", "val_rounded_accuracy", "seconds"}
    # One epoch of the book's recipe: about 0.34 training loss, 0.31 validation loss, 0.91 accuracy.
    assert record["loss"] < 0.36 and record["val_loss"] < 0.33 and record["val_rounded_accuracy"] > 0.89
    test = json.loads((path / "test.json").read_text())
    assert abs(test["loss"] - record["val_loss"]) < 0.02
    assert sorted(p.name for p in (path / "checkpoints").iterdir()) == [  # the first weights, then epoch 1's
        "epoch-0000.json", "epoch-0000.safetensors", "epoch-0001.json", "epoch-0001.safetensors"]


def test_reloaded_run_reproduces_the_test_metrics(trained_run, fashion):
    from aegan.runs import images_to_tensor
    from aegan.training import evaluate_reconstruction

    reloaded = aegan.Run(trained_run.path)
    result = evaluate_reconstruction(reloaded.model, images_to_tensor(fashion.test_images))
    assert result == pytest.approx(trained_run.test_results(), abs=1e-6)


def test_codings_separate_the_classes(trained_run, fashion):
    """Codings of one epoch already carry class information: nearest centroid beats chance by far."""
    codings = trained_run.encode(fashion.valid_images)
    labels = fashion.valid_labels
    centroids = np.stack([codings[labels == k].mean(0) for k in range(10)])
    predicted = np.argmin(((codings[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (predicted == labels).mean() > 0.5


def test_same_seed_same_weights_bit_for_bit(fashion, tmp_path):
    runs = [aegan.train("stacked_ae", epochs=1, out=tmp_path / f"r{i}", progress=False, log=lambda m: None,
                        overrides={"training.num_threads": 1}) for i in range(2)]
    for a, b in zip(runs[0].model.state_dict().values(), runs[1].model.state_dict().values()):
        assert torch.equal(a, b)


def test_overrides_are_typed_and_checked():
    config = load_config("stacked_ae", {"model.hidden_sizes": [300, 100], "training.learning_rate": 1})
    assert config.model.hidden_sizes == (300, 100) and config.training.learning_rate == 1.0
    with pytest.raises(AeganError, match="did you mean 'model.coding_size'"):
        load_config("stacked_ae", {"model.codings_size": 10})
    with pytest.raises(AeganError, match="training.optimizer='adm'.*did you mean 'adam'"):
        load_config("stacked_ae", {"training.optimizer": "adm"})
    with pytest.raises(AeganError, match="training.batch_size=0"):
        load_config("stacked_ae", {"training.batch_size": 0})


def test_plain_path_gives_the_same_training_as_the_fast_path(fashion, tmp_path):
    """A few hundred steps on real data with and without the hand-derived step (float32)."""
    from aegan.runs import images_to_tensor
    from aegan.training.autoencoder import make_train_step, run_epoch
    from aegan.training.optimizers import build_optimizer

    from aegan.data.fashion_mnist import fashion_mnist_spec

    images = images_to_tensor(fashion.train_images[:6400, None])
    results = []
    for fast in (True, False):
        config = load_config("stacked_ae", {"training.fast_path": fast})
        torch.manual_seed(0)
        model = aegan.build_model(config.model.for_data(fashion_mnist_spec()))
        step, name = make_train_step(model, config.training, build_optimizer("sgd", model.parameters(), 1.5))
        assert name == ("fast_dense" if fast else "autograd")
        loss = run_epoch(step, images, 32, torch.Generator().manual_seed(0)).item() / images.numel()
        results.append((loss, model.state_dict()))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-4)
    for name, tensor in results[0][1].items():
        torch.testing.assert_close(tensor, results[1][1][name], rtol=1e-3, atol=1e-3)
