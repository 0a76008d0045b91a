"""Generative metrics against independent computations and known cases."""

import numpy as np
import pytest
from scipy import linalg

from aegan.evaluation.generative import class_coverage, classifier_score, fid, kid, manifold_metrics


def gaussian(n, dims=8, shift=0.0, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dims)) + shift


def test_fid_matches_the_matrix_square_root_formula():
    real, fake = gaussian(500), gaussian(400, shift=0.3, seed=1) * 1.2
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)
    assert fid(real, fake) == pytest.approx(expected, rel=1e-8)
    assert fid(real, real) == pytest.approx(0.0, abs=1e-8)


def test_kid_is_the_unbiased_mmd_of_the_cubic_kernel():
    real, fake = gaussian(60, dims=4), gaussian(60, dims=4, shift=0.5, seed=1)
    kernel = lambda a, b: (a @ b.T / 4 + 1) ** 3  # noqa: E731
    n = 60
    expected = ((kernel(real, real).sum() - np.trace(kernel(real, real))) / (n * (n - 1))
                + (kernel(fake, fake).sum() - np.trace(kernel(fake, fake))) / (n * (n - 1))
                - 2 * kernel(real, fake).mean())
    mean, std = kid(real, fake, subsets=3, subset_size=60)
    assert mean == pytest.approx(expected, rel=1e-10) and std == pytest.approx(0.0, abs=1e-12)
    assert abs(kid(gaussian(1000), gaussian(1000, seed=2), subsets=10, subset_size=500)[0]) < 0.02


def test_manifold_metrics_match_the_published_formulas():
    real, fake = gaussian(40, dims=3), gaussian(30, dims=3, shift=0.4, seed=1)
    d_rf = np.linalg.norm(real[:, None] - fake[None], axis=2)
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=2)
    d_ff = np.linalg.norm(fake[:, None] - fake[None], axis=2)
    r3, f3, r5 = np.sort(d_rr, 1)[:, 3], np.sort(d_ff, 1)[:, 3], np.sort(d_rr, 1)[:, 5]
    expected = {
        "precision": np.mean([(d_rf[:, j] <= r3).any() for j in range(30)]),
        "recall": np.mean([(d_rf[i] <= f3).any() for i in range(40)]),
        "density": sum((d_rf[:, j] <= r5).sum() for j in range(30)) / (5 * 30),
        "coverage": np.mean([d_rf[i].min() <= r5[i] for i in range(40)]),
    }
    assert manifold_metrics(real, fake) == pytest.approx(expected)


def test_same_distribution_gives_coverage_near_its_expectation():
    result = manifold_metrics(gaussian(2000, dims=4), gaussian(2000, dims=4, seed=1))
    assert result["coverage"] == pytest.approx(1 - 0.5**5, abs=0.02)  # 0.969 (Naeem et al.)
    assert result["density"] == pytest.approx(1.0, abs=0.1)
    assert result["precision"] > 0.9 and result["recall"] > 0.9


def test_one_image_generator_covers_one_class():
    reference = np.repeat(np.arange(10), 1000)
    one = class_coverage(np.full(10000, 3), reference)
    assert one["classes_covered"] == 1 and one["class_kl_to_uniform"] == pytest.approx(np.log(10))
    balanced = class_coverage(reference, reference)
    assert balanced["classes_covered"] == 10 and balanced["class_kl_to_test"] == pytest.approx(0.0, abs=1e-9)


def test_classifier_score_bounds():
    assert classifier_score(np.eye(10)[np.repeat(np.arange(10), 5)]) == pytest.approx(10.0, rel=1e-6)
    assert classifier_score(np.full((50, 10), 0.1)) == pytest.approx(1.0)


def test_class_count_comes_from_the_classifier_not_a_constant():
    from aegan.evaluation.generative import generative_metrics

    three = class_coverage(np.zeros(90, dtype=int), np.arange(90) % 3)  # classes inferred: 3
    assert len(three["class_histogram"]) == 3 and three["class_kl_to_uniform"] == pytest.approx(np.log(3))
    assert len(class_coverage(np.zeros(10, dtype=int), np.zeros(10, dtype=int), num_classes=25)["class_histogram"]) == 25
    real, fake = gaussian(60, dims=4), gaussian(60, dims=4, seed=1)
    probabilities = np.eye(12)[np.arange(60) % 2]  # a 12-class classifier that only ever says 0 or 1
    result = generative_metrics(real, None, fake, probabilities, np.arange(60) % 12)
    assert len(result["class_histogram"]) == 12 and result["classes_covered"] == 2
