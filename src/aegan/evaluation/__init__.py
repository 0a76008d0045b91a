"""Measures of what a run learned."""

from aegan.evaluation.generative import generative_metrics
from aegan.evaluation.pca import compare_with_pca, is_linear_autoencoder
from aegan.evaluation.representation import representation_report
from aegan.evaluation.sparsity import plot_activation_histograms, sparsity_report
from aegan.evaluation.vae import vae_report

__all__ = ["generative_metrics", "compare_with_pca", "is_linear_autoencoder", "plot_activation_histograms",
           "representation_report", "sparsity_report",
           "vae_report"]
