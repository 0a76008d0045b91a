"""The domain feature extractor: any image shape and class count, deterministic, cached with
checksums, retrained when damaged."""

import numpy as np
import pytest
import torch

import aegan.evaluation.classifier as classifier_module
from aegan.data.spec import DataSpec
from aegan.evaluation.classifier import FeatureClassifier, load_feature_classifier, predict

SPEC = DataSpec("image", (1, 28, 28), dtype="uint8", scaling="divide_255", class_names=tuple("abcdefghij"))


def tiny_data():
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 10
    images = (rng.random((300, 1, 28, 28)) * 60).astype(np.uint8)
    for k in range(10):  # one bright column per class: easy to learn
        images[labels == k, :, :, 2 + 2 * k] = 255
    return images[:250], labels[:250], images[250:], labels[250:]


@pytest.fixture
def quick_recipe(monkeypatch, tmp_path):
    monkeypatch.setenv("AEGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(classifier_module, "RECIPE", {**classifier_module.RECIPE, "epochs": 3, "batch_size": 25})
    return tmp_path / "cache"


def test_trains_once_then_loads_the_same_weights(quick_recipe):
    data = tiny_data()
    messages = []
    first, info = load_feature_classifier(*data, SPEC, log=messages.append)
    assert any("training the feature classifier" in m for m in messages)
    assert info["test_accuracy"] > 0.8 and info["num_classes"] == 10 and info["shape"] == [1, 28, 28]
    messages.clear()
    second, again = load_feature_classifier(*data, SPEC, log=messages.append)
    assert messages == [] and again == info
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)


def test_damaged_cache_is_retrained_and_other_data_gets_its_own_entry(quick_recipe):
    data = tiny_data()
    first, info = load_feature_classifier(*data, SPEC, log=lambda m: None)
    (weights,) = quick_recipe.glob("*.safetensors")
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    messages = []
    retrained, _ = load_feature_classifier(*data, SPEC, log=messages.append)
    assert any("damaged" in m for m in messages)
    for a, b in zip(first.state_dict().values(), retrained.state_dict().values()):
        assert torch.equal(a, b)  # deterministic training
    train_images, train_labels, test_images, test_labels = data
    load_feature_classifier(train_images[::-1].copy(), train_labels[::-1].copy(), test_images, test_labels, SPEC,
                            log=lambda m: None)
    assert len(list(quick_recipe.glob("*.safetensors"))) == 2
    load_feature_classifier(*data, SPEC, log=lambda m: None, recipe={"epochs": 1})  # another recipe: its own entry
    assert len(list(quick_recipe.glob("*.safetensors"))) == 3


def test_shape_and_classes_come_from_the_data():
    fashion = FeatureClassifier(1, 28, 28, 10)
    assert fashion.body[9].in_features == 64 * 7 * 7 and fashion.head.out_features == 10
    assert not any(isinstance(m, torch.nn.AdaptiveAvgPool2d) for m in fashion.modules())
    odd = FeatureClassifier(3, 30, 45, 4)  # floor pooling: 30 -> 7, 45 -> 11
    assert odd.features(torch.rand(2, 3, 30, 45)).shape == (2, 128) and odd(torch.rand(2, 3, 30, 45)).shape == (2, 4)
    large = FeatureClassifier(3, 128, 96, 5)  # adaptive pooling keeps the dense layer small
    assert large.features(torch.rand(2, 3, 128, 96)).shape == (2, 128)
    assert large.body[-2].in_features == 64 * 16 * 16


def test_rgb_images_in_batches_and_predict_of_model_space_samples(quick_recipe):
    rng = np.random.default_rng(1)
    labels = np.arange(90) % 3
    images = (rng.random((90, 3, 12, 12)) * 40).astype(np.uint8)
    for k in range(3):  # one bright colour channel per class
        images[labels == k, k] = 230
    spec = DataSpec("image", (3, 12, 12), dtype="uint8", scaling="divide_255", class_names=("r", "g", "b"))
    model, info = load_feature_classifier(images[:60], labels[:60], images[60:], labels[60:], spec,
                                          log=lambda m: None)
    assert info["test_accuracy"] == 1.0 and model.head.out_features == 3
    stored, _ = predict(model, images[60:], spec, batch_size=7)
    as_model_space, _ = predict(model, spec.to_model(images[60:]).numpy(), batch_size=11)
    assert torch.allclose(stored, as_model_space, atol=1e-5)
