"""Data-parallel training on torchrun: one process per rank, each on its slice of every batch.

    torchrun --nproc_per_node=2 -m aegan train stacked_ae --out runs/two
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 --nproc_per_node=2 \\
        -m aegan train dcgan --out runs/shared      # and --node_rank=1 on the second machine

Every process builds the same model from the same seed and draws the same permutation; each
takes a contiguous slice of every batch (Batches.epoch's `shard`), and DistributedDataParallel
averages the gradients (gloo on the CPU, NCCL on CUDA; the generator and the discriminator are
wrapped separately). Random draws with a row per sample are made for the global batch
(aegan/shards.py), batch norm uses the global batch's statistics (GlobalBatchNorm), and the loss
of an uneven last batch is weighted by each slice's share, so a run on N processes takes the
steps of one process on the same global batch, up to the order of float sums.

Rank 0 alone writes the run folder (checkpoints, metrics, images) and holds its lock; the
others follow. Stop requests (SIGINT, SIGTERM) and time limits are agreed on at every step,
so all processes stop after the same step and rank 0 writes the checkpoint `--resume` needs.
Statistics across a batch that a model computes itself (minibatch standard deviation and
discrimination, a sparse autoencoder's mean activations) are per process.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager, nullcontext

import torch
from torch import nn

from aegan import shards
from aegan.errors import AeganError


class DataParallel:
    """This process's place in a torchrun job; with one process every method is the identity."""

    def __init__(self, rank: int = 0, world_size: int = 1, local_rank: int = 0, device=None):
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.device = torch.device(device or "cpu")
        self._rows = None

    @property
    def single(self) -> bool:
        return self.world_size == 1

    @property
    def main(self) -> bool:
        """Whether this process writes the run folder (rank 0)."""
        return self.rank == 0

    def rows(self, total: int) -> tuple[int, int]:
        """(first row, rows) of this process's slice of a batch of `total` rows (torch.tensor_split's)."""
        base, extra = divmod(total, self.world_size)
        return self.rank * base + min(self.rank, extra), base + (self.rank < extra)

    def shard(self, index: torch.Tensor) -> torch.Tensor:
        """This process's contiguous slice of a batch's indices."""
        if self.single:
            return index
        first, count = self.rows(len(index))
        return index[first:first + count]

    def steps(self, count: int, batch_size: int) -> int:
        """Steps per epoch over `count` samples: a last batch with fewer rows than processes is left out."""
        steps = -(-count // batch_size)
        last = count - (steps - 1) * batch_size
        return steps - 1 if steps > 1 and last < self.world_size else steps

    @contextmanager
    def step(self, total: int):
        """Around one training step on this process's slice of a batch of `total` rows."""
        if self.single:
            yield
            return
        first, count = self.rows(total)
        self._rows = total
        with shards.sharded(total, first, count):
            yield
        self._rows = None

    def share(self, rows: int) -> float:
        """The weight of this process's mean loss on `rows` rows, so that DDP's average of the
        gradients is the gradient of the global batch's mean."""
        return 1.0 if self.single or not self._rows else self.world_size * rows / self._rows

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum over processes (every process gets it)."""
        if self.single:
            return tensor
        total = tensor.clone()
        torch.distributed.all_reduce(total)
        return total

    def gather(self, tensor: torch.Tensor, dim: int = 0) -> torch.Tensor:
        """Every process's tensor (all the same shape), concatenated in rank order along `dim`."""
        if self.single:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        torch.distributed.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=dim)

    def any(self, flag: bool | int) -> int:
        """The largest of the processes' values (0 when none is set): an agreed yes or no."""
        if self.single:
            return int(flag)
        value = torch.tensor([int(flag)], dtype=torch.int64, device=self.device)
        torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX)
        return int(value.item())

    def on_main(self, action):
        """action() on rank 0, its JSON-able result given to every process; an AeganError there is
        raised on every process (so none waits for a rank 0 that has stopped)."""
        if self.single:
            return action()
        message = None
        if self.main:
            try:
                message = {"result": action()}
            except AeganError as error:
                message = {"error": str(error)}
        message = self._broadcast_json(message)
        if "error" in message:
            raise AeganError(message["error"])
        return message["result"]

    def _broadcast_json(self, value):
        data = torch.zeros(1, dtype=torch.int64, device=self.device)
        encoded = json.dumps(value).encode() if self.main else b""
        data[0] = len(encoded)
        torch.distributed.broadcast(data, 0)
        buffer = torch.zeros(int(data.item()), dtype=torch.uint8, device=self.device)
        if self.main:
            buffer.copy_(torch.frombuffer(bytearray(encoded), dtype=torch.uint8))
        torch.distributed.broadcast(buffer, 0)
        return json.loads(bytes(buffer.cpu().tolist()).decode())

    @contextmanager
    def lock(self, run_dir):
        """The run folder's lock (training/lock.py), held by rank 0 for the whole job."""
        from aegan.training.lock import RunLock

        lock = RunLock(run_dir) if self.main else nullcontext()
        self.on_main(lambda: lock.__enter__() and None)
        try:
            yield
        finally:
            if self.main:
                lock.__exit__(None, None, None)

    def prepare(self, model: nn.Module) -> nn.Module:
        """The model with batch norm on global statistics and dropout with global masks (same
        weights, same state_dict keys)."""
        if self.single:
            return model
        for module in model.modules():
            if type(module) is nn.BatchNorm1d:
                module.__class__ = GlobalBatchNorm1d
            elif type(module) is nn.BatchNorm2d:
                module.__class__ = GlobalBatchNorm2d
            elif type(module) is nn.Dropout:
                module.__class__ = GlobalDropout
        return model

    def wrap(self, module: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        import inspect
        import warnings

        ids = [self.device.index] if self.device.type == "cuda" else None
        # Buffers are not re-broadcast before each forward: batch norm's running statistics are the same
        # everywhere (global statistics), and a broadcast between the reals' and the fakes' passes would
        # modify in place what autograd saved. Newer torch names the option forward_sync_buffers.
        # The gradient penalty's and R1's double backward leave some gradients in another memory layout;
        # DDP copies them into its buckets and warns once that this "may impair performance".
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        parameters = inspect.signature(DistributedDataParallel).parameters
        option = "forward_sync_buffers" if "forward_sync_buffers" in parameters else "broadcast_buffers"
        return DistributedDataParallel(module, device_ids=ids, **{option: False})

    def stop_requests(self, stop):
        """`stop` (training/interrupt.py) as every process agrees on it at each step."""
        return stop if self.single or stop is None else AgreedStop(stop, self)


SINGLE = DataParallel()


class AgreedStop:
    """A stop request seen by any process is seen by all, at the same step (one all-reduce per look)."""

    def __init__(self, stop, parallel: DataParallel):
        self.stop, self.parallel = stop, parallel
        self.agreed = 0

    @property
    def requested(self) -> int:
        self.agreed = self.agreed or self.parallel.any(self.stop.requested or 0)
        return self.agreed

    @property
    def name(self) -> str:
        import signal

        return signal.Signals(self.agreed).name if self.agreed else ""


def torchrun_world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) outside torchrun."""
    try:
        return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError as error:
        raise AeganError(f"torchrun's RANK / WORLD_SIZE / LOCAL_RANK are not whole numbers ({error}): "
                         "start data-parallel training with torchrun") from None


@contextmanager
def session(device: torch.device):
    """The job's DataParallel (SINGLE outside torchrun): joins torchrun's process group (gloo on
    the CPU, NCCL on CUDA) and leaves it at the end."""
    rank, world_size, local_rank = torchrun_world()
    if world_size <= 1:
        yield SINGLE
        return
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    started = not torch.distributed.is_initialized()
    if started:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield DataParallel(rank, world_size, local_rank, device)
    finally:
        if started:
            torch.distributed.destroy_process_group()


def refuse_unsupported(config, parallel: DataParallel, family) -> None:
    """Options that keep per-process state the checkpoint would not hold for every process."""
    if parallel.single:
        return
    training = config.training
    if training.replay_pool_batches:
        raise AeganError("training.replay_pool_batches with torchrun: each process's pool would hold its own "
                         "fakes and only rank 0's would be saved; train with replay in one process, or set it to 0")
    if training.compile:
        raise AeganError("training.compile with torchrun: compiled steps train in one process so far; "
                         "train without torchrun, or leave training.compile off")
    if training.pretrain_epochs:
        raise AeganError("training.pretrain_epochs with torchrun: greedy pretraining runs in one process; "
                         "remove the pretrain_* keys, or train without torchrun")
    if hasattr(family, "after_training_step"):
        raise AeganError(f"torchrun with {config.model.kind}: its growing schedule trains in one process so far; "
                         "train it without torchrun")
    if family.training_loop == "diffusion":
        raise AeganError("torchrun with a diffusion model: its loop trains in one process so far; "
                         "train it without torchrun")
    if family.training_loop == "gan" and training.batch_size % parallel.world_size:
        raise AeganError(f"training.batch_size={training.batch_size} does not split evenly over "
                         f"{parallel.world_size} processes, and a GAN step needs equal slices: use a multiple "
                         f"of {parallel.world_size}")


class _GlobalStatistics:
    """Batch norm whose training statistics are the global batch's in a data-parallel step: the
    sums are all-reduced with autograd (torch.distributed.nn), so gradients flow across processes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and shards.active()):
            return super().forward(x)
        all_reduce = _SumOverProcesses.apply
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() // x.shape[1]], dtype=x.dtype, device=x.device)
        sums = all_reduce(torch.cat([x.sum(dims), count]))
        total = sums[-1]
        mean = sums[:-1] / total
        centered = x - mean.view(shape)
        variance = all_reduce(centered.square().sum(dims)) / total
        out = centered * torch.rsqrt(variance + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                unbiased = variance.detach() * total / (total - 1).clamp(min=1)
                self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)
        return out


class _SumOverProcesses(torch.autograd.Function):
    """The sum of a tensor over processes; its gradient is the sum of the processes' gradients
    (each process's loss depends on every process's tensor through the sum)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        torch.distributed.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, gradient: torch.Tensor) -> torch.Tensor:
        return _SumOverProcesses.apply(gradient)  # itself differentiable: penalties on input gradients


def global_spread(rows: torch.Tensor) -> torch.Tensor:
    """The standard deviation (n - 1) of each column of `rows` over every process's rows, with
    gradients across processes (a loss that divides by the batch's spread, as one process would)."""
    all_reduce = _SumOverProcesses.apply
    count = torch.tensor([len(rows)], dtype=rows.dtype, device=rows.device)
    sums = all_reduce(torch.cat([rows.sum(0), count]))
    total = sums[-1]
    centered = rows - sums[:-1] / total
    return (all_reduce(centered.square().sum(0)) / (total - 1)).sqrt()


class GlobalBatchNorm1d(_GlobalStatistics, nn.BatchNorm1d):
    pass


class GlobalBatchNorm2d(_GlobalStatistics, nn.BatchNorm2d):
    pass


class GlobalDropout(nn.Dropout):
    """Dropout whose mask is drawn for the global batch in a data-parallel step (shards.dropout)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return shards.dropout(x, self.p) if self.training else x


class _LossOf(nn.Module):
    """An autoencoder's loss as a forward pass, the call DistributedDataParallel hooks into."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.loss_terms(x)["loss"]


def autoencoder_step(model, optimizer, parallel: DataParallel, precision=None):
    """step(x) on this process's slice: backward through DDP (which averages the gradients), the
    optimizer's step; returns the global batch's summed loss, the same on every process."""
    from aegan.training.precision import FP32

    precision = precision or FP32
    wrapped = parallel.wrap(_LossOf(model))

    def step(x: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            loss = precision.full(wrapped(x))
        precision.backward(loss * parallel.share(len(x)))
        precision.step(optimizer)
        precision.update()
        return parallel.sum(loss.detach().double() * x.numel())

    return step


class DataParallelNetworks:
    """generate() and discriminate() for training/gan_step.py: through the DDP-wrapped network
    when it is being trained, through the plain one otherwise (the generator's fakes for the
    discriminator, the frozen discriminator in the generator's step), so every DDP forward
    pass is followed by its backward pass."""

    def __init__(self, model, parallel: DataParallel):
        self.model = model
        self.generator = parallel.wrap(model.generator)
        self.discriminator = parallel.wrap(model.discriminator)
        self._first_d_parameter = next(model.discriminator.parameters())

    def generate(self, codings, labels=None):
        wrapped = self.generator if torch.is_grad_enabled() else None
        return self.model.generate(codings, labels, generator=wrapped)

    def discriminate(self, images, labels=None):
        trains = torch.is_grad_enabled() and self._first_d_parameter.requires_grad
        return self.model.discriminate(images, labels, discriminator=self.discriminator if trains else None)


def gan_step(model, training, optimizer_d, optimizer_g, replay, average, parallel: DataParallel, precision=None):
    """training/gan_step.py's step through DataParallelNetworks; returns the logits of every
    process, gathered in the layout of one process's step on the global batch."""
    from aegan.training.gan_step import make_gan_step

    step = make_gan_step(model, optimizer_d, optimizer_g, replay, training,
                         networks=DataParallelNetworks(model, parallel), average=average,
                         **({"precision": precision} if precision is not None else {}))

    def gathered(real, labels):
        d_logits, g_logits = step(real, labels)
        half = len(d_logits) // 2
        everyone = parallel.gather(torch.stack([d_logits[:half], d_logits[half:], g_logits]), dim=1)
        return torch.cat([everyone[0], everyone[1]]), everyone[2]

    return gathered
