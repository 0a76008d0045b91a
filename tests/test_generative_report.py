"""The generative report on any labelled image data: a classifier of the run's own classes, floors,
and one clear line instead of numbers where there are no labels or no images."""

import numpy as np
import pytest

from aegan.data.spec import DataSpec, Split
from aegan.evaluation.generative import generative_report

SPEC = DataSpec("image", (3, 12, 12), dtype="uint8", scaling="divide_255", class_names=("red", "green", "blue"))
QUICK = {"epochs": 2, "batch_size": 16}


def shapes(labels: np.ndarray, seed: int) -> np.ndarray:
    """12x12 RGB images: a red square, a green cross or a blue bar, at a random place on noise."""
    rng = np.random.default_rng(seed)
    images = (rng.random((len(labels), 3, 12, 12)) * 50).astype(np.uint8)
    for i, label in enumerate(labels):
        y, x = rng.integers(1, 6, size=2)
        if label == 0:
            images[i, 0, y:y + 5, x:x + 5] = 220
        elif label == 1:
            images[i, 1, y + 2, x:x + 6] = images[i, 1, y:y + 6, x + 2] = 220
        else:
            images[i, 2, y:y + 2, 1:11] = 220
    return images


def labelled(count: int, seed: int) -> Split:
    labels = np.arange(count) % 3
    return Split(shapes(labels, seed), labels)


@pytest.fixture
def data(monkeypatch, tmp_path):
    monkeypatch.setenv("AEGAN_CACHE_DIR", str(tmp_path / "cache"))
    return labelled(180, seed=0), labelled(90, seed=1)


def real_sampler(n, seed):
    """Real images the classifier never saw, in model space: a perfect generator."""
    return SPEC.to_model(shapes(np.arange(n) % 3, seed=100 + seed)).numpy()


def one_class_sampler(n, seed):
    return SPEC.to_model(shapes(np.zeros(n, dtype=int), seed=200 + seed)).numpy()


def test_real_images_score_near_the_floor_and_one_class_covers_a_third(data):
    train, test = data
    real = generative_report(real_sampler, train, test, SPEC, n=90, log=lambda m: None, recipe=QUICK)
    assert real["feature_classifier_test_accuracy"] > 0.9
    assert real["classes_covered"] == 3 and real["classes_covered_floor"] == 3
    assert real["class_kl_to_test"] < 0.05
    assert real["fid"] <= 2 * real["fid_floor"] + 1e-3
    assert real["precision"] > 0.6 * real["precision_floor"] and real["recall"] > 0.6 * real["recall_floor"]
    assert sum(real["class_histogram"]) == 90 and len(real["class_histogram"]) == 3

    one = generative_report(one_class_sampler, train, test, SPEC, n=90, log=lambda m: None, recipe=QUICK)
    assert one["classes_covered"] == 1 and one["class_histogram"][0] == 90
    assert one["class_kl_to_uniform"] == pytest.approx(np.log(3))
    assert one["fid"] > 3 * real["fid"] and one["recall"] < real["recall"]
    assert one["fid_floor"] == real["fid_floor"]  # the floor is the data's, not the sampler's


def never(n, seed):
    raise AssertionError("nothing is sampled when the metrics are skipped")


def test_unlabelled_images_and_tables_get_one_line_and_no_numbers(data):
    train, test = data
    unlabelled = DataSpec("image", (3, 12, 12), dtype="uint8", scaling="divide_255")
    report = generative_report(never, Split(train.samples), Split(test.samples), unlabelled, log=lambda m: None)
    assert list(report) == ["generative_metrics"]
    line = report["generative_metrics"]
    assert line.startswith("skipped:") and "labels" in line and "\n" not in line

    table = DataSpec("table", (5,), class_names=("a", "b"))
    rows = Split(np.random.default_rng(0).random((20, 5)), np.arange(20) % 2)
    report = generative_report(never, rows, rows, table, log=lambda m: None)
    assert list(report) == ["generative_metrics"] and report["generative_metrics"].startswith("skipped:")
