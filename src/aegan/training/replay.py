"""Experience replay for GAN discriminators: a pool of earlier fakes (TF-GAN's tensor pool).

Each call with a fresh batch of fakes returns, with probability `probability`, a batch drawn
from the pool (and puts the fresh batch in its place), otherwise the fresh batch itself.
The pool holds up to `pool_batches` batches; until it is full, fresh batches are added and
returned.
"""

from __future__ import annotations

import torch


class ReplayPool:
    def __init__(self, pool_batches: int, probability: float = 0.5, generator: torch.Generator | None = None):
        self.pool_batches, self.probability = pool_batches, probability
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.pool: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        self.replayed = 0  # batches served from the pool (for tests and logs)

    def __call__(self, fakes: torch.Tensor, labels: torch.Tensor | None = None):
        fresh = (fakes.detach(), None if labels is None else labels.detach())
        if self.pool_batches == 0:
            return fresh
        if len(self.pool) < self.pool_batches:
            self.pool.append(fresh)
            return fresh
        if torch.rand((), generator=self.generator).item() >= self.probability:
            return fresh
        index = int(torch.randint(len(self.pool), (), generator=self.generator))
        old = self.pool[index]
        if len(old[0]) != len(fakes):  # a smaller final batch: serve it fresh
            return fresh
        self.pool[index] = fresh
        self.replayed += 1
        return old

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """(tensors, JSON state) for a checkpoint: the pooled fakes (and labels), the count served."""
        tensors = {}
        if self.pool:
            tensors["replay.fakes"] = torch.stack([fakes for fakes, _ in self.pool])
            if self.pool[0][1] is not None:
                tensors["replay.labels"] = torch.stack([labels for _, labels in self.pool])
        return tensors, {"replayed": self.replayed}

    def load_state(self, tensors: dict[str, torch.Tensor], state: dict, device: torch.device | str = "cpu") -> None:
        """Put back what state() saved (the checkpoint's `extra.` tensors, names without the prefix)."""
        fakes, labels = tensors.get("replay.fakes"), tensors.get("replay.labels")
        self.pool = [] if fakes is None else [
            (fakes[i].to(device), None if labels is None else labels[i].to(device)) for i in range(len(fakes))]
        self.replayed = int(state.get("replayed", 0))
