"""Measures of what a run learned."""

from aegan.evaluation.anomaly import outlier_flags, reconstruction_errors, write_scores_csv
from aegan.evaluation.generative import generative_metrics, generative_report
from aegan.evaluation.pca import compare_with_pca, is_linear_autoencoder
from aegan.evaluation.representation import representation_report
from aegan.evaluation.sparsity import plot_activation_histograms, sparsity_report
from aegan.evaluation.vae import vae_report

__all__ = ["generative_metrics", "generative_report", "compare_with_pca", "is_linear_autoencoder",
           "outlier_flags", "plot_activation_histograms", "reconstruction_errors", "representation_report",
           "sparsity_report", "vae_report", "write_scores_csv"]
