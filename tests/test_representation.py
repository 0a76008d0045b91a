"""Representation metrics: probes and trustworthiness against independent computations."""

import numpy as np
import pytest
from sklearn.manifold import TSNE

from aegan.evaluation.representation import probe_accuracies, representation_report, tsne_trustworthiness


def brute_force_knn_accuracy(train, train_labels, test, test_labels, k=5):
    distances = ((test[:, None, :] - train[None, :, :]) ** 2).sum(-1)
    nearest = np.argsort(distances, axis=1)[:, :k]
    votes = np.array([np.bincount(train_labels[row], minlength=10).argmax() for row in nearest])
    return float((votes == test_labels).mean())


def brute_force_trustworthiness(high, low, k=5):
    """Venna & Kaski (2001): penalise map neighbours by how far they rank in the original space."""
    n = len(high)
    high_distances = ((high[:, None] - high[None]) ** 2).sum(-1)
    low_distances = ((low[:, None] - low[None]) ** 2).sum(-1)
    np.fill_diagonal(high_distances, np.inf)
    np.fill_diagonal(low_distances, np.inf)
    ranks = np.argsort(np.argsort(high_distances, axis=1), axis=1) + 1  # 1 = nearest
    penalty = 0.0
    for i in range(n):
        map_neighbours = np.argsort(low_distances[i])[:k]
        penalty += np.clip(ranks[i, map_neighbours] - k, 0, None).sum()
    return 1 - 2 / (n * k * (2 * n - 3 * k - 1)) * penalty


def test_knn_accuracy_matches_a_brute_force_vote():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 6)) * 1.5
    train_labels, test_labels = rng.integers(0, 10, 400), rng.integers(0, 10, 150)
    train = centres[train_labels] + rng.normal(size=(400, 6))
    test = centres[test_labels] + rng.normal(size=(150, 6))
    result = probe_accuracies(train, train_labels, test, test_labels)
    assert result["knn_accuracy"] == brute_force_knn_accuracy(train, train_labels, test, test_labels)
    assert 0.3 < result["knn_accuracy"] < 1.0  # a case that can fail either way


def test_linear_probe_separates_separable_codings_and_not_random_labels():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 600)
    codings = np.eye(10)[labels] * 5 + rng.normal(size=(600, 10)) * 0.3
    separable = probe_accuracies(codings[:500], labels[:500], codings[500:], labels[500:])
    assert separable["linear_probe_accuracy"] == 1.0
    shuffled = rng.permutation(labels)
    chance = probe_accuracies(codings[:500], shuffled[:500], codings[500:], shuffled[500:])
    assert chance["linear_probe_accuracy"] < 0.3


def test_trustworthiness_is_that_of_the_tsne_map():
    rng = np.random.default_rng(2)
    codings = (rng.normal(size=(120, 8)) + np.repeat(rng.normal(size=(4, 8)) * 4, 30, axis=0)).astype(np.float32)
    points = TSNE(n_components=2, init="pca", learning_rate="auto", random_state=42).fit_transform(codings)
    expected = brute_force_trustworthiness(codings.astype(np.float64), points.astype(np.float64))
    assert tsne_trustworthiness(codings, seed=42) == pytest.approx(expected, abs=1e-6)
    scrambled = brute_force_trustworthiness(codings.astype(np.float64), rng.normal(size=(120, 2)))
    assert scrambled < expected - 0.1  # a random map is far less trustworthy


@pytest.mark.slow
def test_pca_codings_score_like_pca_itself(fashion):
    """Codings that are PCA's own projections must probe exactly like the PCA column."""
    from sklearn.decomposition import PCA

    train, test = fashion.train_images[:3000].reshape(3000, -1) / 255, fashion.test_images[:500].reshape(500, -1) / 255
    pca = PCA(n_components=12, random_state=42).fit(train)
    report = representation_report(pca.transform(train), fashion.train_labels[:3000], pca.transform(test),
                                   fashion.test_labels[:500], train, test, tsne_points=300)
    assert report["pca_components"] == report["coding_dimensions"] == 12
    assert report["linear_probe_accuracy"] == pytest.approx(report["pca_linear_probe_accuracy"], abs=0.004)
    assert report["knn_accuracy"] == pytest.approx(report["pca_knn_accuracy"], abs=0.004)
    assert report["linear_probe_accuracy"] > 0.7 and 0.7 < report["tsne_trustworthiness"] <= 1


def test_evaluate_writes_the_representation_keys(fashion, tmp_path):
    import json

    import aegan

    run = aegan.train("stacked_ae", out=tmp_path / "run", epochs=1, progress=False, log=lambda m: None,
                      overrides={"data.train_subset": 3000})
    result = aegan.api.evaluate(run)
    saved = json.loads((run.path / "evaluation.json").read_text())
    for key in ("linear_probe_accuracy", "knn_accuracy", "pca_linear_probe_accuracy", "pca_knn_accuracy",
                "tsne_trustworthiness", "reconstruction_loss", "pca10_linear_probe_accuracy", "pca30_knn_accuracy",
                "pca64_linear_probe_accuracy"):
        assert saved[key] == result[key]
    assert result["coding_dimensions"] == result["pca_components"] == 30
    # one epoch on 3,000 images already gives codings far better than chance (0.1)
    assert result["linear_probe_accuracy"] > 0.6 and result["knn_accuracy"] > 0.6
    assert 0.5 < result["tsne_trustworthiness"] <= 1


def test_report_for_few_features_few_samples_and_any_class_count():
    """A 3-feature table with 13 classes and 8-D codings: PCA is capped at 3 components, and a few
    dozen points are enough for the probes and the t-SNE map."""
    rng = np.random.default_rng(3)
    train_labels, test_labels = np.arange(52) % 13, np.arange(26) % 13
    centres = rng.normal(size=(13, 3)) * 4
    train, test = centres[train_labels] + rng.normal(size=(52, 3)), centres[test_labels] + rng.normal(size=(26, 3))
    lift = rng.normal(size=(3, 8))
    report = representation_report(train @ lift, train_labels, test @ lift, test_labels, train, test, tsne_points=26)
    assert report["coding_dimensions"] == 8 and report["pca_components"] == 3
    assert report["tsne_points"] == 26 and 0 < report["tsne_trustworthiness"] <= 1
    assert report["linear_probe_accuracy"] > 1 / 13 and report["pca_knn_accuracy"] > 1 / 13
    assert {key for key in report if key.startswith("pca3")} == {"pca3_linear_probe_accuracy", "pca3_knn_accuracy"}
    assert not any(key.startswith(("pca10", "pca30", "pca64")) for key in report)  # capped at 3 features
    small = representation_report(train[:6] @ lift, train_labels[:6] % 2, test[:4] @ lift, test_labels[:4] % 2,
                                  train[:6], test[:4], tsne_points=4)
    assert small["pca_components"] == 3 and small["tsne_points"] == 4


def test_pca_is_also_probed_at_10_30_and_64_components():
    """Codings that are PCA's first 10 components probe like the report's pca10 column; the larger
    levels are capped at the data's 40 features and are at least as good on data PCA suits."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    labels = np.arange(600) % 4
    data = rng.normal(size=(4, 40))[labels] * 0.5 + rng.normal(size=(600, 40))
    train, test = data[:400], data[400:]
    codings = PCA(n_components=10, svd_solver="full").fit(train)
    report = representation_report(codings.transform(train), labels[:400], codings.transform(test), labels[400:],
                                   train, test, tsne_points=50)
    assert report["linear_probe_accuracy"] == pytest.approx(report["pca10_linear_probe_accuracy"], abs=1e-9)
    assert report["knn_accuracy"] == pytest.approx(report["pca10_knn_accuracy"], abs=1e-9)
    assert {"pca30_knn_accuracy", "pca40_knn_accuracy"} <= set(report) and "pca64_knn_accuracy" not in report


@pytest.mark.slow  # umap-learn compiles its numba kernels on first use: about a minute on 2 cores
def test_umap_map_and_its_trustworthiness_beside_tsne(tmp_path):
    """Four well-separated clusters in 12-D: both maps keep neighbours (trustworthiness near 1),
    far above a random layout; the UMAP plot is drawn."""
    from sklearn.manifold import trustworthiness

    from aegan.codings import map_to_2d, plot_codings

    rng = np.random.default_rng(0)
    labels = np.arange(200) % 4
    codings = rng.normal(size=(4, 12))[labels] * 6 + rng.normal(size=(200, 12))
    report = representation_report(codings, labels, codings, labels, codings, codings, tsne_points=200, umap=True)
    assert report["umap_trustworthiness"] > 0.85 and report["tsne_trustworthiness"] > 0.85
    assert report["umap_trustworthiness"] > trustworthiness(codings, rng.normal(size=(200, 2)), n_neighbors=5) + 0.2
    assert map_to_2d(codings, "umap").shape == (200, 2)
    path = plot_codings(codings, labels, tmp_path / "umap.png", method="umap")
    assert path.stat().st_size > 1000
    assert "umap_trustworthiness" not in representation_report(codings, labels, codings, labels, codings, codings,
                                                                 tsne_points=50)


def test_without_umap_learn_the_umap_map_is_a_one_line_error(monkeypatch):
    import sys

    from aegan.codings import map_to_2d
    from aegan.errors import AeganError

    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were not installed
    with pytest.raises(AeganError, match=r"pip install 'aegan\[umap\]'"):
        map_to_2d(np.zeros((20, 3)), "umap")
    with pytest.raises(AeganError, match="expected one of tsne, umap"):
        map_to_2d(np.zeros((20, 3)), "pca")
