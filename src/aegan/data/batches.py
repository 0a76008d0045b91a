"""Batches of one split, in the model's scale, from memory or streamed from disk.

In memory, a split is one tensor as stored (uint8 images stay uint8, a quarter of float32's
memory) and a batch is an index_select of the epoch's permutation, scaled on its own. Streamed,
the same rows are read from disk in the same order by a background thread that keeps a few
batches ready, so a streamed run gets the very same batches, and so the same weights, as an
in-memory run of the same seed.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator

import numpy as np
import torch

from aegan.data.spec import DataSpec, Split

PREFETCH = 3  # batches read ahead by the background thread


class Batches:
    """Model-space batches of `split` (scaled by `spec`; spec None: samples already in model space)."""

    def __init__(self, split: Split | torch.Tensor, spec: DataSpec | None, device=None, streamed: bool = False,
                 labels: bool = True):
        self.spec, self.device = spec, torch.device(device or "cpu")
        if torch.is_tensor(split):
            split = Split(samples=split)
        self.streamed = streamed
        self.samples = split.samples
        self.labels = None
        if labels and split.labels is not None:
            self.labels = torch.as_tensor(np.asarray(split.labels, dtype=np.int64), device=self.device)
        if not streamed and not torch.is_tensor(self.samples):
            array = np.asarray(self.samples)
            if not array.flags.writeable:  # e.g. IDX data read with np.frombuffer
                array = array.copy()
            self.samples = torch.from_numpy(array).to(self.device)
        elif torch.is_tensor(self.samples):
            self.samples = self.samples.to(self.device)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.samples.shape[1:])

    def _scale(self, stored: torch.Tensor) -> torch.Tensor:
        return stored if self.spec is None else self.spec.to_model(stored)

    def labels_of(self, index: torch.Tensor) -> torch.Tensor | None:
        return None if self.labels is None else self.labels.index_select(0, index.to(self.labels.device))

    def take(self, index: torch.Tensor) -> torch.Tensor:
        """The samples at `index` (a 1-D int64 tensor), scaled."""
        if not self.streamed:
            return self._scale(self.samples.index_select(0, index.to(self.samples.device)))
        stored = torch.from_numpy(np.ascontiguousarray(self.samples[index.cpu().numpy()]))
        if self.device.type == "cuda":
            stored = stored.pin_memory().to(self.device, non_blocking=True)
        return self._scale(stored)

    def epoch(self, permutation: torch.Tensor, batch_size: int, num_steps: int, first: int = 0,
              shard=None) -> Iterator[tuple]:
        """(batch, labels) for batches `first` to `num_steps` - 1 of `permutation`; `shard(index)`
        (data-parallel training) keeps this process's slice of each batch's indices."""
        chunks = (permutation[i * batch_size:(i + 1) * batch_size] for i in range(first, num_steps))
        if shard is not None:
            chunks = (shard(index) for index in chunks)
        if not self.streamed:
            for index in chunks:
                yield self.take(index), self.labels_of(index)
            return
        yield from _prefetched(((self.take(index), self.labels_of(index)) for index in chunks))

    def in_order(self, batch_size: int) -> Iterator[torch.Tensor]:
        """The whole split in order, scaled, `batch_size` at a time (evaluation)."""
        for start in range(0, len(self), batch_size):
            if not self.streamed:
                yield self._scale(self.samples[start:start + batch_size])
            else:
                yield self._scale(torch.from_numpy(np.ascontiguousarray(self.samples[start:start + batch_size])))

    def all(self) -> torch.Tensor:
        """The whole split in model space (for the small-data paths that need it at once)."""
        return torch.cat(list(self.in_order(8192))) if len(self) else self._scale(self.samples[:0])


def _prefetched(batches: Iterator, depth: int = PREFETCH) -> Iterator:
    """Items of `batches`, produced by a background thread up to `depth` ahead."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce():
        try:
            for item in batches:
                if stop.is_set():
                    return
                slots.put(item)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            slots.put(error)
            return
        slots.put(done)

    worker = threading.Thread(target=produce, name="aegan-batches", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                slots.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
