"""Generative metrics in a feature space: FID, KID, precision/recall, density/coverage, classes.

All take (N, D) feature arrays of real and generated samples and work in float64.
- FID (Heusel et al. 2017): |mu_r - mu_g|^2 + tr(S_r + S_g - 2 (S_r S_g)^(1/2)); the trace of the
  square root is the sum of the square roots of the eigenvalues of S_r S_g.
- KID (Binkowski et al. 2018): the unbiased MMD^2 with the kernel (x.y / D + 1)^3, averaged over
  random subsets.
- precision / recall (Kynkaanniemi et al. 2019, k = 3): the share of generated samples inside the
  k-NN balls of the real ones, and the other way round.
- density / coverage (Naeem et al. 2020, k = 5): how many real k-NN balls hold each generated
  sample (over k), and the share of real balls that hold at least one.
- class coverage: the histogram of classes a classifier gives N samples, its KL divergence to a
  reference histogram and to uniform, and the classes that get at least 10% of N / classes.

`generative_report` measures a model's samples with all of them in the feature space of a
classifier trained on the run's own labelled training images (evaluation/classifier.py), each
beside its floor: the same metric for as many real training samples against the test split,
what a perfect generator of the training distribution would score with this classifier and
this many samples.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from aegan.evaluation.classifier import load_feature_classifier, predict


def fid(real: np.ndarray, fake: np.ndarray) -> float:
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    mean_difference = real.mean(0) - fake.mean(0)
    cov_real, cov_fake = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    eigenvalues = np.linalg.eigvals(cov_real @ cov_fake)
    trace_sqrt = np.sqrt(np.clip(eigenvalues.real, 0, None)).sum()
    return float(mean_difference @ mean_difference + np.trace(cov_real) + np.trace(cov_fake) - 2 * trace_sqrt)


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """(mean, standard deviation) of the unbiased polynomial-kernel MMD^2 over random subsets."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    size = min(subset_size, len(real), len(fake))
    rng = np.random.default_rng(seed)
    dims = real.shape[1]
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]
        k_xx, k_yy, k_xy = ((x @ x.T) / dims + 1) ** 3, ((y @ y.T) / dims + 1) ** 3, ((x @ y.T) / dims + 1) ** 3
        values.append((k_xx.sum() - np.trace(k_xx)) / (size * (size - 1))
                      + (k_yy.sum() - np.trace(k_yy)) / (size * (size - 1)) - 2 * k_xy.mean())
    return float(np.mean(values)), float(np.std(values))


def _kth_neighbour_radii(features: torch.Tensor, ks: tuple[int, ...], chunk: int = 1024) -> list[torch.Tensor]:
    """For each k in ks, the distance from each sample to its k-th nearest other sample
    (rows in chunks: O(chunk x N) memory)."""
    nearest = torch.cat([torch.cdist(features[i:i + chunk], features).topk(max(ks) + 1, dim=1, largest=False).values
                         for i in range(0, len(features), chunk)])
    return [nearest[:, k] for k in ks]  # column 0 is each sample's distance to itself


def manifold_metrics(real: np.ndarray, fake: np.ndarray, k_precision: int = 3, k_density: int = 5,
                     chunk: int = 1024) -> dict[str, float]:
    real_t, fake_t = torch.as_tensor(real, dtype=torch.float64), torch.as_tensor(fake, dtype=torch.float64)
    real_radii, density_radii = _kth_neighbour_radii(real_t, (k_precision, k_density))
    (fake_radii,) = _kth_neighbour_radii(fake_t, (k_precision,))
    fake_inside_real = torch.zeros(len(fake_t), dtype=torch.bool)
    real_inside_fake, covered = [], []
    inside_count = 0
    for i in range(0, len(real_t), chunk):
        distances = torch.cdist(real_t[i:i + chunk], fake_t)  # (chunk of reals, fakes)
        fake_inside_real |= (distances <= real_radii[i:i + chunk, None]).any(dim=0)
        real_inside_fake.append((distances <= fake_radii[None, :]).any(dim=1))
        inside_count += (distances <= density_radii[i:i + chunk, None]).sum().item()
        covered.append(distances.min(dim=1).values <= density_radii[i:i + chunk])
    return {"precision": fake_inside_real.double().mean().item(),
            "recall": torch.cat(real_inside_fake).double().mean().item(),
            "density": inside_count / (k_density * len(fake_t)),
            "coverage": torch.cat(covered).double().mean().item()}


def class_coverage(predicted: np.ndarray, reference: np.ndarray, num_classes: int | None = None,
                   eps: float = 1e-10) -> dict:
    """The class histogram of `predicted`, compared with that of `reference` and with uniform.

    `num_classes` defaults to one more than the largest class in either."""
    predicted, reference = np.asarray(predicted), np.asarray(reference)
    if num_classes is None:
        num_classes = int(max(predicted.max(initial=0), reference.max(initial=0))) + 1
    counts = np.bincount(predicted, minlength=num_classes).astype(np.float64)
    p = counts / counts.sum()
    q = np.bincount(reference, minlength=num_classes).astype(np.float64)
    q /= q.sum()

    def kl(a, b):
        return float(np.sum(np.where(a > 0, a * np.log((a + eps) / (b + eps)), 0.0)))

    threshold = 0.1 * len(predicted) / num_classes
    return {"class_histogram": counts.astype(int).tolist(), "class_kl_to_test": kl(p, q),
            "class_kl_to_uniform": kl(p, np.full(num_classes, 1 / num_classes)),
            "classes_covered": int((counts >= threshold).sum())}


def classifier_score(probabilities: np.ndarray, eps: float = 1e-12) -> float:
    """exp(E_x KL(p(y|x) || p(y))): the Inception Score with aegan's own classifier."""
    p = np.asarray(probabilities, np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    return float(np.exp(np.mean(np.sum(p * (np.log(p + eps) - np.log(marginal + eps)), axis=1))))


def generative_metrics(real_features, real_classes, fake_features, fake_probabilities, reference_classes,
                       seed: int = 0) -> dict:
    """Every metric of this module for one set of generated samples against real ones; the
    classes are the columns of `fake_probabilities`."""
    kid_mean, kid_std = kid(real_features, fake_features, seed=seed)
    result = {"fid": fid(real_features, fake_features), "kid": kid_mean, "kid_std": kid_std}
    result.update(manifold_metrics(real_features, fake_features))
    result["classifier_score"] = classifier_score(fake_probabilities)
    probabilities = np.asarray(fake_probabilities)
    result.update(class_coverage(probabilities.argmax(axis=1), reference_classes, num_classes=probabilities.shape[1]))
    return result


# --- a model's report -------------------------------------------------------------------------

METRICS = "FID, KID, precision, recall, density, coverage and class coverage"
NO_LABELS = (f"skipped: {METRICS} need a feature classifier trained on class labels (give one subfolder "
             "per class, data.label_column or labels in the data)")
NOT_IMAGES = f"skipped: {METRICS} need a feature classifier of images, and this data holds {{what}} samples"

_FLOORS: dict = {}  # the floor depends on the data and the classifier only: computed once per process


def spread(length: int, count: int) -> np.ndarray:
    """`count` indices spread evenly over `length` (all of them when count == length): a split read
    in sorted order (a folder of class subfolders) is then sampled across its classes."""
    return np.unique(np.linspace(0, length - 1, count).round().astype(np.int64))


def skip_reason(spec, train, test) -> str:
    """Why the generative metrics cannot be measured on this data ("" when they can)."""
    if not spec.is_image:
        return NOT_IMAGES.format(what=spec.layout)
    if not spec.has_labels or train.labels is None or test.labels is None:
        return NO_LABELS
    return ""


def generative_report(sample, train, test, spec, n: int = 10000, log=print, recipe: dict | None = None) -> dict:
    """Metrics of `n` samples against the test split, each with its floor.

    `sample(n, seed)` returns n generated samples in model space, shape (n, *spec.shape);
    `train` and `test` are the run's Splits; `recipe` overrides the classifier's RECIPE.
    Data without labels, or not images, gives {"generative_metrics": "skipped: ..."}.
    """
    reason = skip_reason(spec, train, test)
    if reason:
        log(f"generative metrics {reason}")
        return {"generative_metrics": reason}
    classifier, info = load_feature_classifier(train.samples, train.labels, test.samples, test.labels, spec,
                                               log=log, recipe=recipe)
    count = min(n, len(test), len(train))  # as many samples as real images on each side
    chosen = spread(len(test), count)
    test_features, _ = predict(classifier, np.asarray(test.samples[chosen]), spec)
    test_classes = np.asarray(test.labels)[chosen]
    fake_features, fake_probabilities = predict(classifier, sample(count, 0))
    result = generative_metrics(test_features.numpy(), test_classes, fake_features.numpy(),
                                fake_probabilities.numpy(), test_classes)
    floor = _floor(classifier, info, train, spec, count, test_features.numpy(), test_classes)
    report = {"samples": count, "feature_classifier_test_accuracy": info["test_accuracy"],
              "feature_classifier_recipe": info["recipe"]}
    for key, value in result.items():
        report[key] = value
        if key != "class_histogram":
            report[f"{key}_floor"] = floor[key]
    return report


def _floor(classifier, info: dict, train, spec, count: int, test_features: np.ndarray,
           test_classes: np.ndarray) -> dict:
    """The metrics of `count` training samples, spread over the split, against the test features."""
    key = (info["weights_sha256"], count, hashlib.sha256(test_features.tobytes()).hexdigest())
    if key not in _FLOORS:
        chosen = spread(len(train), count)
        train_features, train_probabilities = predict(classifier, np.asarray(train.samples[chosen]), spec)
        _FLOORS[key] = generative_metrics(test_features, test_classes, train_features.numpy(),
                                          train_probabilities.numpy(), test_classes)
    return _FLOORS[key]
