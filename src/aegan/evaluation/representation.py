"""How useful a run's codings are: linear probe, 5-NN and t-SNE (and UMAP) trustworthiness, next to PCA.

The probes are fitted on the training split's codings and scored on the test split; PCA with
as many components as the codings have (at most as many as the samples have features, and as
there are training samples) is fitted on the training samples (pixels, table features or
sequence values, flattened) and probed the same way, so the two columns compare like with like.
Any number of classes: the probes take them from the labels.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.manifold import trustworthiness
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def probe_accuracies(train_codings: np.ndarray, train_labels: np.ndarray, test_codings: np.ndarray,
                     test_labels: np.ndarray, neighbours: int = 5) -> dict:
    """Test accuracy of logistic regression and of k-NN fitted on the training codings."""
    train_codings = train_codings.reshape(len(train_codings), -1).astype(np.float64)
    test_codings = test_codings.reshape(len(test_codings), -1).astype(np.float64)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    probe.fit(train_codings, train_labels)
    knn = KNeighborsClassifier(n_neighbors=min(neighbours, len(train_codings))).fit(train_codings, train_labels)
    return {"linear_probe_accuracy": float(probe.score(test_codings, test_labels)),
            "knn_accuracy": float(knn.score(test_codings, test_labels))}


def map_trustworthiness(codings: np.ndarray, method: str = "tsne", seed: int = 42, neighbours: int = 5) -> float:
    """Trustworthiness (1 = every neighbour on the 2-D map is a neighbour in the codings) of the
    t-SNE or UMAP map that `aegan encode --method tsne|umap` draws."""
    from aegan.codings import map_to_2d

    codings = codings.reshape(len(codings), -1).astype(np.float32)
    points = map_to_2d(codings, method, seed)
    return float(trustworthiness(codings, points, n_neighbors=min(neighbours, (len(codings) - 1) // 2)))


def tsne_trustworthiness(codings: np.ndarray, seed: int = 42, neighbours: int = 5) -> float:
    """The trustworthiness of the t-SNE map (see map_trustworthiness)."""
    return map_trustworthiness(codings, "tsne", seed, neighbours)


PCA_LEVELS = (10, 30, 64)  # PCA probed at these sizes too, to place the codings on a scale


def representation_report(train_codings: np.ndarray, train_labels: np.ndarray, test_codings: np.ndarray,
                          test_labels: np.ndarray, train_samples: np.ndarray, test_samples: np.ndarray,
                          tsne_points: int = 2000, seed: int = 42, pca_levels: tuple[int, ...] = PCA_LEVELS,
                          umap: bool = False) -> dict:
    """Probe accuracies of the codings and of PCA with as many components, and trustworthiness;
    also PCA at each of `pca_levels` components (keys pca10_linear_probe_accuracy, pca10_knn_accuracy, ...),
    and with `umap` the trustworthiness of the UMAP map of the same points.

    `train_samples`, `test_samples`: the data the codings came from, in model space, any shape
    (N, ...); PCA's components are capped by their feature count and the training sample count."""
    size = int(np.prod(train_codings.shape[1:]))
    report = {"coding_dimensions": size}
    report.update(probe_accuracies(train_codings, train_labels, test_codings, test_labels))
    train_flat = np.asarray(train_samples).reshape(len(train_samples), -1)
    test_flat = np.asarray(test_samples).reshape(len(test_samples), -1)
    pca = PCA(n_components=min(size, *train_flat.shape), random_state=seed).fit(train_flat)
    pca_scores = probe_accuracies(pca.transform(train_flat), train_labels, pca.transform(test_flat), test_labels)
    report.update({f"pca_{key}": value for key, value in pca_scores.items()})
    report["pca_components"] = pca.n_components_
    levels = sorted({min(level, *train_flat.shape) for level in pca_levels})
    if levels:  # one fit; the first k components of PCA are PCA with k components
        nested = PCA(n_components=levels[-1], svd_solver="full").fit(train_flat)
        train_pcs, test_pcs = nested.transform(train_flat), nested.transform(test_flat)
        for level in levels:
            scores = probe_accuracies(train_pcs[:, :level], train_labels, test_pcs[:, :level], test_labels)
            report.update({f"pca{level}_{key}": value for key, value in scores.items()})
    report["tsne_trustworthiness"] = tsne_trustworthiness(test_codings[:tsne_points], seed=seed)
    if umap:  # the same points on a UMAP map (the optional umap-learn package: pip install 'aegan[umap]')
        report["umap_trustworthiness"] = map_trustworthiness(test_codings[:tsne_points], "umap", seed=seed)
    report["tsne_points"] = min(tsne_points, len(test_codings))
    return report
