"""Anomaly scores: points off the line an autoencoder learned score highest; the CSV is ordered."""

import csv

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from aegan.data.spec import DataSpec
from aegan.errors import AeganError
from aegan.evaluation.anomaly import outlier_flags, reconstruction_errors, write_scores_csv
from aegan.models import VAEConfig, VariationalAutoencoder
from aegan.models.autoencoders import DenseAutoencoder, DenseAutoencoderConfig

SPEC = DataSpec("table", (2,), value_range=(-1.5, 1.5), feature_names=("x", "y"))


def for_data(config, spec):
    """The config resolved from the data's description (configs without for_data: as given)."""
    return config.for_data(spec) if hasattr(config, "for_data") else config


def points_near_a_line(seed=0):
    """200 points near y = 0.5 x, and 10 planted ones far off it (the last 10)."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(-1, 1, 200)
    inliers = np.stack([t, 0.5 * t + rng.normal(0, 0.02, 200)], axis=1)
    s = rng.uniform(-0.8, 0.8, 10)
    outliers = np.stack([s, 0.5 * s + rng.choice([-1, 1], 10) * rng.uniform(0.5, 0.8, 10)], axis=1)
    return np.concatenate([inliers, outliers]).astype(np.float32), np.r_[np.zeros(200), np.ones(10)]


@pytest.fixture(scope="module")
def line_model():
    samples, truth = points_near_a_line()
    torch.manual_seed(0)
    model = DenseAutoencoder(for_data(DenseAutoencoderConfig(input_shape=(2,), hidden_sizes=(16,), coding_size=1,
                                                             reconstruction_loss="mse"), SPEC))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.from_numpy(samples)
    for _ in range(400):
        loss = model.loss_terms(x)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, samples, truth


def test_points_off_the_line_score_highest(line_model):
    model, samples, truth = line_model
    model.train()
    scores = reconstruction_errors(model, SPEC, samples, batch_size=64)
    assert scores.shape == (210,) and scores.dtype == np.float64
    assert roc_auc_score(truth, scores) > 0.9
    assert model.training  # the model's mode is given back
    with torch.no_grad():  # the mean squared error per sample, in model space
        expected = (model(torch.from_numpy(samples)) - torch.from_numpy(samples)).square().mean(1).double().numpy()
    assert np.allclose(scores, expected, rtol=1e-5, atol=1e-9)


def test_cross_entropy_models_score_with_logits_and_a_vae_from_its_mean():
    torch.manual_seed(0)
    spec = DataSpec("image", (1, 4, 4), dtype="uint8", scaling="divide_255")
    images = np.random.default_rng(0).integers(0, 256, (6, 1, 4, 4), dtype=np.uint8)
    x = spec.to_model(images)
    dense = DenseAutoencoder(for_data(DenseAutoencoderConfig(hidden_sizes=(8,), coding_size=3), spec))
    vae = VariationalAutoencoder(for_data(VAEConfig(hidden_sizes=(8,), coding_size=2), spec))
    assert dense.config.reconstruction_loss == "binary_crossentropy"
    with torch.no_grad():
        for model in (dense, vae):
            codings = model.encode(x)
            mean = codings[0] if isinstance(codings, tuple) else codings
            expected = torch.nn.functional.binary_cross_entropy_with_logits(
                model.decode_logits(mean).reshape(6, -1), x.reshape(6, -1), reduction="none").mean(1)
            assert np.allclose(reconstruction_errors(model, spec, images, batch_size=4), expected.numpy(), atol=1e-6)


def test_flags_and_csv(tmp_path):
    scores = np.array([0.1, 0.9, 0.3, 0.7, 0.2, 0.05, 0.5, 0.6, 0.4, 0.8])
    flags = outlier_flags(scores, 0.2)
    assert flags.tolist() == [False, True, False, False, False, False, False, False, False, True]
    assert outlier_flags(scores, 0.01).sum() == 1  # at least one
    with pytest.raises(AeganError):
        outlier_flags(scores, 0.6)
    path = write_scores_csv(tmp_path / "scores.csv", scores, 0.2, paths=[f"img{i}.png" for i in range(10)])
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["index", "path", "score", "outlier"]
    assert [int(r["index"]) for r in rows] == list(np.argsort(-scores))
    assert [float(r["score"]) for r in rows] == sorted(scores, reverse=True)
    assert [r["path"] for r in rows[:2]] == ["img1.png", "img9.png"]
    assert [r["outlier"] for r in rows] == ["1", "1"] + ["0"] * 8
    plain = write_scores_csv(tmp_path / "plain.csv", scores, 0.1)
    assert plain.read_text().splitlines()[:2] == ["index,score,outlier", "1,0.9,1"]
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically: no temporary file left


def test_the_line_model_scores_in_a_csv(line_model, tmp_path):
    model, samples, truth = line_model
    scores = reconstruction_errors(model, SPEC, samples)
    path = write_scores_csv(tmp_path / "line.csv", scores, contamination=10 / 210)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    top = {int(r["index"]) for r in rows if r["outlier"] == "1"}
    assert len(top) == 10 and len(top & set(range(200, 210))) >= 8
