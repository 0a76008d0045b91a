"""Linear autoencoder versus PCA: the subspace the decoder spans, and the reconstruction error."""

from __future__ import annotations

import numpy as np
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA
from torch import nn


def is_linear_autoencoder(model) -> bool:
    from aegan.models.autoencoders import DenseAutoencoder

    return (type(model) is DenseAutoencoder and model.config.activation == "linear"
            and model.config.coding_activation in ("", "linear") and model.output_activation == "linear"
            and not model.config.hidden_sizes)


def compare_with_pca(model, fit_data: np.ndarray, eval_data: np.ndarray, reconstruct) -> dict[str, float]:
    """PCA with as many components as codings, fitted on `fit_data`; compared on `eval_data`.

    largest_principal_angle_degrees: between the decoder's column space and PCA's components;
    mse_ratio: the autoencoder's reconstruction MSE over PCA's.
    """
    fit_flat = fit_data.reshape(len(fit_data), -1).astype(np.float64)
    eval_flat = eval_data.reshape(len(eval_data), -1).astype(np.float64)
    coding_size = model.config.coding_size
    pca = PCA(n_components=coding_size, svd_solver="full").fit(fit_flat)
    decoder = [m for m in model.decoder if isinstance(m, nn.Linear)][0]
    columns = decoder.weight.detach().double().numpy()  # (features, codings)
    angles = np.degrees(subspace_angles(columns, pca.components_.T))
    pca_mse = float(np.mean((pca.inverse_transform(pca.transform(eval_flat)) - eval_flat) ** 2))
    ae_mse = float(np.mean((reconstruct(eval_data).reshape(len(eval_flat), -1) - eval_flat) ** 2))
    return {"largest_principal_angle_degrees": float(angles.max()), "autoencoder_mse": ae_mse,
            "pca_mse": pca_mse, "mse_ratio": ae_mse / pca_mse, "pca_components": coding_size}
