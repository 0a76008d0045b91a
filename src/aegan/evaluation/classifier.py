"""The domain feature extractor: a small CNN classifier trained on the run's own labelled images, cached.

Generative metrics need a feature space and a classifier; Inception weights cannot be
downloaded here, so aegan trains its own, deterministically, on the training split of the
data (whatever its image size, channels and classes, as its DataSpec describes them). The
weights are cached in the user cache folder ($AEGAN_CACHE_DIR, else $XDG_CACHE_HOME/aegan,
else ~/.cache/aegan) as safetensors + JSON, named by a checksum of the training data, labels,
sample shape, class count, scaling and the recipe; the JSON also holds the weights' SHA-256 and
the test accuracy. A missing or damaged cache entry is retrained.

The classifier sees samples in model space (spec.to_model of the stored samples, converted
one batch at a time), the space in which a model's generated samples come out.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import nn

from aegan.errors import AeganError
from aegan.files import atomic_write_bytes, atomic_write_json

RECIPE = {"version": 3, "epochs": 10, "batch_size": 128, "learning_rate": 2e-3, "seed": 0, "flip": True}
POOLED_SIZE = 16  # images larger than 4 x POOLED_SIZE are averaged down to at most this before the dense layer


class FeatureClassifier(nn.Module):
    """conv 32 - BN - pool - conv 64 - BN - pool - dense 128 (the features) - dense num_classes.

    Images larger than 64x64 get an adaptive average pool to at most 16x16 before the dense
    layer, so that it stays small; smaller images (28x28) have none.
    """

    def __init__(self, channels: int, height: int, width: int, num_classes: int):
        super().__init__()
        if min(height, width) < 4 or num_classes < 2:
            raise AeganError(f"the feature classifier needs images of at least 4x4 and 2 classes or more, "
                             f"not {height}x{width} with {num_classes} classes")
        self.shape = (channels, height, width)
        layers = [nn.Conv2d(channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2)]
        pooled_height, pooled_width = height // 4, width // 4  # two floor poolings
        if max(height, width) > 4 * POOLED_SIZE:
            pooled_height, pooled_width = min(pooled_height, POOLED_SIZE), min(pooled_width, POOLED_SIZE)
            layers.append(nn.AdaptiveAvgPool2d((pooled_height, pooled_width)))
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * pooled_height * pooled_width, 128), nn.ReLU())
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(128, num_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """128-D features of images in model space, shape (N, C, H, W) (or (N, H, W) for one channel)."""
        return self.body(images.reshape(len(images), *self.shape))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(images)))


def cache_dir() -> Path:
    if os.environ.get("AEGAN_CACHE_DIR"):
        return Path(os.environ["AEGAN_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aegan"


def _recipe(overrides: dict | None) -> dict:
    return {**RECIPE, **(overrides or {})}


def _num_classes(spec, labels: np.ndarray) -> int:
    return spec.num_classes if spec.has_labels else int(np.max(labels)) + 1


def _model_batch(samples, index: np.ndarray, spec) -> torch.Tensor:
    """Stored samples at `index` (an integer array) as model inputs (N, *spec.shape)."""
    return spec.to_model(np.asarray(samples[index])).reshape(len(index), *spec.shape)


def _checksum(samples, labels: np.ndarray, spec, num_classes: int, recipe: dict, chunk: int = 4096) -> str:
    digest = hashlib.sha256()
    for start in range(0, len(samples), chunk):  # in chunks: a memory map is never read whole
        digest.update(np.ascontiguousarray(samples[np.arange(start, min(start + chunk, len(samples)))]).tobytes())
    digest.update(np.ascontiguousarray(labels).tobytes())
    described = {"shape": list(spec.shape), "num_classes": num_classes, "scaling": spec.scaling,
                 "mean": list(spec.mean), "std": list(spec.std), "recipe": recipe}
    digest.update(json.dumps(described, sort_keys=True).encode())
    return digest.hexdigest()[:16]


@torch.no_grad()
def predict(model: FeatureClassifier, samples, spec=None, count: int | None = None,
            batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, class probabilities) of the first `count` (default all) samples.

    With `spec`, `samples` are stored samples, converted with spec.to_model one batch at a time;
    without, they are already in model space (a model's outputs: an array or a tensor).
    """
    model.eval()
    count = len(samples) if count is None else min(count, len(samples))
    features = []
    for start in range(0, count, batch_size):
        stop = min(start + batch_size, count)
        if spec is not None:
            batch = _model_batch(samples, np.arange(start, stop), spec)
        else:
            batch = torch.as_tensor(np.asarray(samples[start:stop]), dtype=torch.float32)
        features.append(model.features(batch))
    features = torch.cat(features)
    return features, torch.softmax(model.head(features), dim=1)


def train_classifier(samples, labels: np.ndarray, spec, log=print, recipe: dict | None = None) -> FeatureClassifier:
    """Train on stored samples (N, *spec.shape), each batch converted with spec.to_model; the flip
    augmentation mirrors half of each batch along the width axis."""
    recipe = _recipe(recipe)
    torch.manual_seed(recipe["seed"])
    shuffle = torch.Generator().manual_seed(recipe["seed"])
    model = FeatureClassifier(*spec.shape, _num_classes(spec, labels)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["learning_rate"])
    batch_size = recipe["batch_size"]
    steps = recipe["epochs"] * -(-len(samples) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe["learning_rate"], total_steps=steps)
    y = torch.from_numpy(np.asarray(labels).astype(np.int64))
    for epoch in range(recipe["epochs"]):
        permutation = torch.randperm(len(samples), generator=shuffle)
        for start in range(0, len(samples), batch_size):
            batch = permutation[start:start + batch_size]
            images = _model_batch(samples, batch.numpy(), spec)
            if recipe.get("flip"):  # mirror half the batch: garments look the same either way
                mirrored = torch.rand(len(batch), generator=shuffle) < 0.5
                images = torch.where(mirrored[:, None, None, None], images.flip(-1), images)
            loss = F.cross_entropy(model(images), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        log(f"feature classifier: epoch {epoch + 1}/{recipe['epochs']} done")
    return model


def load_feature_classifier(train_samples, train_labels: np.ndarray, test_samples, test_labels: np.ndarray,
                            spec, log=print, recipe: dict | None = None) -> tuple[FeatureClassifier, dict]:
    """The cached classifier for this labelled image data, training it when missing.

    Samples are stored samples (uint8 or float, (N, *spec.shape)); `recipe` overrides entries of
    RECIPE (e.g. {"epochs": 1} in tests). Returns (model in eval mode, info).
    """
    if not spec.is_image:
        raise AeganError(f"the feature classifier is an image classifier: {spec.describe()} samples have none")
    if train_labels is None or test_labels is None:
        raise AeganError("the feature classifier needs class labels for the training and test splits")
    recipe = _recipe(recipe)
    num_classes = _num_classes(spec, train_labels)
    key = _checksum(train_samples, train_labels, spec, num_classes, recipe)
    folder = cache_dir()
    weights_path, info_path = folder / f"feature-classifier-{key}.safetensors", folder / f"feature-classifier-{key}.json"
    if weights_path.is_file() and info_path.is_file():
        blob, info = weights_path.read_bytes(), json.loads(info_path.read_text())
        if hashlib.sha256(blob).hexdigest() == info.get("weights_sha256"):
            model = FeatureClassifier(*spec.shape, num_classes)
            model.load_state_dict(load_tensors(blob))
            return model.eval(), info
        log(f"feature classifier cache {weights_path} is damaged: training it again")
    log(f"training the feature classifier (once; cached in {folder})")
    model = train_classifier(train_samples, train_labels, spec, log=log, recipe=recipe)
    _, probabilities = predict(model, test_samples, spec)
    accuracy = float((probabilities.argmax(dim=1).numpy() == np.asarray(test_labels)).mean())
    blob = save_tensors({k: v.contiguous() for k, v in model.state_dict().items()})
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(weights_path, blob)
    info = {"data_checksum": key, "recipe": recipe, "test_accuracy": accuracy, "shape": list(spec.shape),
            "num_classes": num_classes, "weights_sha256": hashlib.sha256(blob).hexdigest()}
    atomic_write_json(info_path, info)
    log(f"feature classifier test accuracy {accuracy:.4f}")
    return model.eval(), info
