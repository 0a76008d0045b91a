"""The domain feature extractor: a small CNN classifier trained on Fashion-MNIST, cached.

Generative metrics need a feature space and a classifier; Inception weights cannot be
downloaded here, so aegan trains its own, deterministically, on the training split. The
weights are cached in the user cache folder ($AEGAN_CACHE_DIR, else $XDG_CACHE_HOME/aegan,
else ~/.cache/aegan) as safetensors + JSON, named by a checksum of the training data and
the recipe; the JSON also holds the weights' SHA-256 and the test accuracy. A missing or
damaged cache entry is retrained.
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

from aegan.files import atomic_write_bytes, atomic_write_json
from aegan.runs import images_to_tensor

RECIPE = {"version": 3, "epochs": 10, "batch_size": 128, "learning_rate": 2e-3, "seed": 0, "flip": True}


class FeatureClassifier(nn.Module):
    """conv 32 - BN - pool - conv 64 - BN - pool - dense 128 (the features) - dense 10."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 49, 128), nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(128, 10)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """128-D features of images in [0, 1], shape (N, 28, 28)."""
        return self.body(images.reshape(len(images), 1, 28, 28))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(images)))


def cache_dir() -> Path:
    if os.environ.get("AEGAN_CACHE_DIR"):
        return Path(os.environ["AEGAN_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aegan"


def _checksum(images: np.ndarray, labels: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(images).tobytes())
    digest.update(np.ascontiguousarray(labels).tobytes())
    digest.update(json.dumps(RECIPE, sort_keys=True).encode())
    return digest.hexdigest()[:16]


@torch.no_grad()
def predict(model: FeatureClassifier, images: torch.Tensor, batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, class probabilities) of images in [0, 1]."""
    model.eval()
    features = torch.cat([model.features(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    return features, torch.softmax(model.head(features), dim=1)


def train_classifier(train_images: np.ndarray, train_labels: np.ndarray, log=print) -> FeatureClassifier:
    torch.manual_seed(RECIPE["seed"])
    shuffle = torch.Generator().manual_seed(RECIPE["seed"])
    model = FeatureClassifier().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=RECIPE["learning_rate"])
    steps = RECIPE["epochs"] * -(-len(train_images) // RECIPE["batch_size"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, RECIPE["learning_rate"], total_steps=steps)
    x = images_to_tensor(train_images)
    y = torch.from_numpy(train_labels.astype(np.int64))
    batch_size = RECIPE["batch_size"]
    for epoch in range(RECIPE["epochs"]):
        permutation = torch.randperm(len(x), generator=shuffle)
        for start in range(0, len(x), batch_size):
            batch = permutation[start:start + batch_size]
            images = x[batch]
            if RECIPE.get("flip"):  # mirror half the batch: garments look the same either way
                mirrored = torch.rand(len(batch), generator=shuffle) < 0.5
                images = torch.where(mirrored[:, None, None], images.flip(-1), images)
            loss = F.cross_entropy(model(images), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        log(f"feature classifier: epoch {epoch + 1}/{RECIPE['epochs']} done")
    return model


def load_feature_classifier(data, log=print) -> tuple[FeatureClassifier, dict]:
    """The cached classifier for this data set (a FashionMNIST), training it when missing."""
    key = _checksum(data.train_images, data.train_labels)
    folder = cache_dir()
    weights_path, info_path = folder / f"feature-classifier-{key}.safetensors", folder / f"feature-classifier-{key}.json"
    if weights_path.is_file() and info_path.is_file():
        blob, info = weights_path.read_bytes(), json.loads(info_path.read_text())
        if hashlib.sha256(blob).hexdigest() == info.get("weights_sha256"):
            model = FeatureClassifier()
            model.load_state_dict(load_tensors(blob))
            return model.eval(), info
        log(f"feature classifier cache {weights_path} is damaged: training it again")
    log(f"training the feature classifier (once; cached in {folder})")
    model = train_classifier(data.train_images, data.train_labels, log=log)
    test = images_to_tensor(data.test_images)
    _, probabilities = predict(model, test)
    accuracy = float((probabilities.argmax(dim=1).numpy() == data.test_labels).mean())
    blob = save_tensors({k: v.contiguous() for k, v in model.state_dict().items()})
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(weights_path, blob)
    info = {"data_checksum": key, "recipe": RECIPE, "test_accuracy": accuracy,
            "weights_sha256": hashlib.sha256(blob).hexdigest()}
    atomic_write_json(info_path, info)
    log(f"feature classifier test accuracy {accuracy:.4f}")
    return model.eval(), info
