"""Training loops (one per paradigm, written out), optimizers and checkpoints."""

from aegan.training.autoencoder import evaluate_reconstruction, train_autoencoder
from aegan.training.checkpoint import load_checkpoint, restore, save_checkpoint

__all__ = ["evaluate_reconstruction", "load_checkpoint", "restore", "save_checkpoint", "train_autoencoder"]
