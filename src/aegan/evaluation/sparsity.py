"""How sparse a coding layer is: mean activation, share of near-zero activations, histogram."""

from __future__ import annotations

import numpy as np

NEAR_ZERO = 0.1


def sparsity_report(codings: np.ndarray) -> dict[str, float]:
    """For codings in [0, 1] (a sigmoid coding layer), over all samples and units."""
    per_unit = codings.mean(axis=0)
    return {
        "mean_activation": float(codings.mean()),
        "share_below_0.1": float((codings < NEAR_ZERO).mean()),
        "unit_mean_activation_min": float(per_unit.min()),
        "unit_mean_activation_max": float(per_unit.max()),
    }


def plot_activation_histograms(codings: np.ndarray, path, title: str = ""):
    """Histograms of all activations and of each unit's mean activation (the book's figure)."""
    from aegan.plots import save_and_close, subplots

    figure, axes = subplots(1, 2, figsize=(10, 3.5))
    axes[0].hist(codings.ravel(), bins=50, range=(0, 1), color="tab:blue")
    axes[0].set_xlabel("activation")
    axes[0].set_ylabel("count")
    axes[0].set_title("all activations")
    axes[1].hist(codings.mean(axis=0), bins=50, range=(0, 1), color="tab:orange")
    axes[1].set_xlabel("mean activation of a unit")
    axes[1].set_title("units")
    if title:
        figure.suptitle(title, y=1.03)
    return save_and_close(figure, path)
