"""The domain feature extractor: deterministic, cached with checksums, retrained when damaged."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch

import aegan.evaluation.classifier as classifier_module
from aegan.evaluation.classifier import load_feature_classifier


@dataclass
class TinyData:
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def tiny_data():
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 10
    images = (rng.random((300, 28, 28)) * 60).astype(np.uint8)
    for k in range(10):  # one bright column per class: easy to learn
        images[labels == k, :, 2 + 2 * k] = 255
    return TinyData(images[:250], labels[:250], images[250:], labels[250:])


@pytest.fixture
def quick_recipe(monkeypatch, tmp_path):
    monkeypatch.setenv("AEGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(classifier_module, "RECIPE", {**classifier_module.RECIPE, "epochs": 3, "batch_size": 25})
    return tmp_path / "cache"


def test_trains_once_then_loads_the_same_weights(quick_recipe):
    data = tiny_data()
    messages = []
    first, info = load_feature_classifier(data, log=messages.append)
    assert any("training the feature classifier" in m for m in messages)
    assert info["test_accuracy"] > 0.8
    messages.clear()
    second, again = load_feature_classifier(data, log=messages.append)
    assert messages == [] and again == info
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)


def test_damaged_cache_is_retrained_and_other_data_gets_its_own_entry(quick_recipe):
    data = tiny_data()
    first, info = load_feature_classifier(data, log=lambda m: None)
    (weights,) = quick_recipe.glob("*.safetensors")
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    messages = []
    retrained, _ = load_feature_classifier(data, log=messages.append)
    assert any("damaged" in m for m in messages)
    for a, b in zip(first.state_dict().values(), retrained.state_dict().values()):
        assert torch.equal(a, b)  # deterministic training
    other = TinyData(data.train_images[::-1].copy(), data.train_labels[::-1].copy(), data.test_images, data.test_labels)
    load_feature_classifier(other, log=lambda m: None)
    assert len(list(quick_recipe.glob("*.safetensors"))) == 2
