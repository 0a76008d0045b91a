"""Random draws with one row per sample that do not depend on how a batch is split over processes.

In data-parallel training (training/distributed.py) each process holds a contiguous slice of
the step's global batch, and every process holds the same random generator state. A draw
with one row per sample (the VAE's noise, dropout masks, a GAN's codings and labels, DiffAugment's
shifts) is made here for the whole global batch on every process, and each keeps its own rows:
the random numbers, and so the weights, are those of one process training on the global batch.

Outside a data-parallel step (`sharded` not active) every draw is the plain one, unchanged.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import torch

_shard: tuple[int, int, int] | None = None  # (global rows, first row, local rows) during a data-parallel step


@contextmanager
def sharded(global_rows: int, first_row: int, local_rows: int):
    """While a data-parallel step runs on rows [first_row, first_row + local_rows) of a batch of
    `global_rows`."""
    global _shard
    previous, _shard = _shard, (global_rows, first_row, local_rows)
    try:
        yield
    finally:
        _shard = previous


def active() -> bool:
    """Whether a data-parallel step is running (batch statistics must then be global)."""
    return _shard is not None


def rows(draw: Callable[[int], torch.Tensor], n: int) -> torch.Tensor:
    """draw(n): a tensor with n rows; in a data-parallel step where n is this process's share of the
    batch, this process's rows of draw(global rows)."""
    if _shard is None or n != _shard[2]:
        return draw(n)
    total, first, count = _shard
    return draw(total)[first:first + count]


def blocks(draw: Callable[[int], torch.Tensor], n: int, count: int) -> list[torch.Tensor]:
    """`count` blocks of n rows from one draw(count * n) (a GAN step's codings, one block per pass);
    in a data-parallel step, this process's rows of each block of draw(count * global rows)."""
    if _shard is None or n != _shard[2]:
        return list(draw(count * n).split(n))
    total, first, local = _shard
    drawn = draw(count * total)
    return [drawn[block * total + first:block * total + first + local] for block in range(count)]


def dropout(x: torch.Tensor, rate: float) -> torch.Tensor:
    """Dropout (training) whose mask is drawn for the global batch in a data-parallel step; outside
    one, torch's own dropout."""
    if _shard is None or len(x) != _shard[2] or rate == 0:
        return torch.nn.functional.dropout(x, rate, training=True)
    keep = rows(lambda n: torch.empty((n, *x.shape[1:]), dtype=x.dtype, device=x.device).bernoulli_(1 - rate),
                len(x))
    return x * keep.div_(1 - rate)
