"""How useful a run's codings are: linear probe, 5-NN and t-SNE trustworthiness, next to PCA.

The probes are fitted on the training split's codings and scored on the test split; PCA with
as many components as the codings have (at most 784) is fitted on the training pixels and
probed the same way, so the two columns compare like with like.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.manifold import TSNE, trustworthiness
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
    knn = KNeighborsClassifier(n_neighbors=neighbours).fit(train_codings, train_labels)
    return {"linear_probe_accuracy": float(probe.score(test_codings, test_labels)),
            "knn_accuracy": float(knn.score(test_codings, test_labels))}


def tsne_trustworthiness(codings: np.ndarray, seed: int = 42, neighbours: int = 5) -> float:
    """Trustworthiness (1 = every neighbour on the 2-D map is a neighbour in the codings) of the
    t-SNE map that `aegan encode --plot` draws."""
    codings = codings.reshape(len(codings), -1).astype(np.float32)
    points = TSNE(n_components=2, init="pca", learning_rate="auto", random_state=seed).fit_transform(codings)
    return float(trustworthiness(codings, points, n_neighbors=neighbours))


def representation_report(train_codings: np.ndarray, train_labels: np.ndarray, test_codings: np.ndarray,
                          test_labels: np.ndarray, train_pixels: np.ndarray, test_pixels: np.ndarray,
                          tsne_points: int = 2000, seed: int = 42) -> dict:
    """Probe accuracies of the codings and of PCA with as many components, and trustworthiness."""
    size = int(np.prod(train_codings.shape[1:]))
    report = {"coding_dimensions": size}
    report.update(probe_accuracies(train_codings, train_labels, test_codings, test_labels))
    train_pixels = train_pixels.reshape(len(train_pixels), -1)
    pca = PCA(n_components=min(size, train_pixels.shape[1]), random_state=seed).fit(train_pixels)
    pca_scores = probe_accuracies(pca.transform(train_pixels), train_labels,
                                  pca.transform(test_pixels.reshape(len(test_pixels), -1)), test_labels)
    report.update({f"pca_{key}": value for key, value in pca_scores.items()})
    report["pca_components"] = pca.n_components_
    report["tsne_trustworthiness"] = tsne_trustworthiness(test_codings[:tsne_points], seed=seed)
    report["tsne_points"] = min(tsne_points, len(test_codings))
    return report
