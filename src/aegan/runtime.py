"""Where and how computations run: device choice, thread count, seeding."""

from __future__ import annotations

import torch

from aegan.errors import AeganError


def select_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise AeganError("training.device='cuda' but no CUDA GPU is visible: use 'auto' or 'cpu'")
    return torch.device(name)


def configure_threads(num_threads: int = 0) -> int:
    """Set PyTorch's intra-op threads (0 keeps its default: one per physical core)."""
    if num_threads > 0:
        torch.set_num_threads(num_threads)
    return torch.get_num_threads()


def seed_everything(seed: int) -> torch.Generator:
    """Seed PyTorch's global generator; return a separate generator for shuffling."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
