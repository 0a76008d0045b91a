"""Measures of what a run learned."""

from aegan.evaluation.vae import vae_report

__all__ = ["vae_report"]
