"""Time per epoch of the conv autoencoder and the DCGAN (batch 32, 55,000 images), aegan's step against autograd.

Contenders, alternated and repeated (median of the repeats), each timed over --steps steps
(--gan-steps for the DCGAN, after 10 warm-up steps) of Fashion-MNIST batches and scaled to a
full epoch (1,719 autoencoder steps, 1,718 GAN steps):
  conv_ae aegan   the step aegan trains with (training/fast_conv.py: channels-last, pooling
                  before SELU, freed memory kept)
  conv_ae plain   autograd + torch.optim.SGD, the loop of training/autoencoder.py (fast_path off)
  dcgan aegan     the two-phase step with fast_conv's networks (dropout masks drawn faster,
                  single-plane convolutions as GEMMs, freed memory kept)
  dcgan plain     autograd + torch.optim.RMSprop, the loop of training/gan.py
Each contender runs in a process of its own, which loads the data once and times a run when
asked: the fast path changes process-wide malloc settings (runtime.keep_freed_memory), which
would otherwise speed up the plain contender too.
Also printed: the FLOPs of one epoch, the fp32 matmul peak measured now and the share of it
each contender reaches.

    .venv/bin/python benchmarks/conv_epoch.py [--repeats 5] [--steps 300] [--gan-steps 100] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from stacked_ae_epoch import matmul_peak  # benchmarks/ is on the path when run as a script

EPOCH_IMAGES = 55_000
BATCH_SIZE = 32
CONTENDERS = ("conv_ae aegan", "conv_ae plain", "dcgan aegan", "dcgan plain")
WARM_UP_STEPS = 10


def build_step(name: str):
    """(step function taking a batch, images it trains on, steps per epoch) for a contender."""
    from aegan.config import load_config
    from aegan.data import load_fashion_mnist
    from aegan.data.fashion_mnist import fashion_mnist_spec
    from aegan.models import build_model
    from aegan.runs import images_to_tensor
    from aegan.training.autoencoder import make_train_step
    from aegan.training.fast_conv import make_dcgan_step
    from aegan.training.gan import make_gan_step
    from aegan.training.optimizers import build_optimizer
    from aegan.training.replay import ReplayPool

    preset, kind = name.split()
    config = load_config(preset, {"training.fast_path": kind == "aegan"})
    torch.manual_seed(0)
    model = build_model(config.model.for_data(fashion_mnist_spec()))
    model.train()
    images = images_to_tensor(load_fashion_mnist().train_images[:, None])  # (N, 1, 28, 28)
    if preset == "conv_ae":
        training = config.training
        optimizer = build_optimizer(training.optimizer, model.parameters(), training.learning_rate)
        step, _ = make_train_step(model, training, optimizer)
        return step, images, -(-len(images) // BATCH_SIZE)
    optimizer_name, rate = config.training.optimizer, config.training.learning_rate
    optimizer_d = build_optimizer(optimizer_name, model.discriminator.parameters(), rate)
    optimizer_g = build_optimizer(optimizer_name, model.generator.parameters(), rate)
    maker = make_dcgan_step if kind == "aegan" else make_gan_step
    gan_step = maker(model, optimizer_d, optimizer_g, ReplayPool(0))
    return (lambda batch: torch.cat(gan_step(batch, None)).double()), images * 2 - 1, len(images) // BATCH_SIZE


def worker(name: str) -> None:
    """Serve timings of one contender: read a step count per line, answer seconds per epoch (JSON)."""
    step, images, steps_per_epoch = build_step(name)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    position = 0

    def run(steps: int) -> float:
        nonlocal position
        batches = []
        for _ in range(steps):
            if position + BATCH_SIZE > len(order):
                position = 0
            batches.append(images.index_select(0, order[position:position + BATCH_SIZE]))
            position += BATCH_SIZE
        total = torch.zeros((), dtype=torch.float64)
        start = time.perf_counter()
        for batch in batches:
            total = total + step(batch).sum()
        seconds = time.perf_counter() - start
        if not torch.isfinite(total):
            raise RuntimeError(f"{name}: non-finite losses")
        return seconds * steps_per_epoch / steps

    run(WARM_UP_STEPS)
    print(json.dumps({"ready": name}), flush=True)
    for line in sys.stdin:
        print(json.dumps({"seconds_per_epoch": run(int(line))}), flush=True)


def epoch_flops(preset: str) -> float:
    """FLOPs of one epoch's steps (forward and backward, as counted by torch's FlopCounterMode)."""
    from torch.utils.flop_counter import FlopCounterMode

    step, images, steps_per_epoch = build_step(f"{preset} plain")
    with FlopCounterMode(display=False) as counter:
        step(images[:BATCH_SIZE])
    return counter.get_total_flops() * steps_per_epoch


class Worker:
    """A contender in its own process, which loads the data once and then times on request."""

    def __init__(self, name: str, threads: int):
        command = [sys.executable, __file__, "--worker", name, "--threads", str(threads)]
        self.name = name
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def wait_ready(self) -> None:
        self._answer()

    def _answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.name!r} failed (its error is above)")
        return json.loads(line)

    def time(self, steps: int) -> float:
        self.process.stdin.write(f"{steps}\n")
        self.process.stdin.flush()
        return self._answer()["seconds_per_epoch"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300, help="timed autoencoder steps per run")
    parser.add_argument("--gan-steps", type=int, default=100, help="timed DCGAN steps per run")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    parser.add_argument("--only", choices=("conv_ae", "dcgan"), help="time one model only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.worker:
        worker(args.worker)
        return

    contenders = [name for name in CONTENDERS if args.only in (None, name.split()[0])]
    workers = [Worker(name, args.threads) for name in contenders]
    for worker_process in workers:  # they load the data side by side, before any timing
        worker_process.wait_ready()
    times = {name: [] for name in contenders}
    peaks = []
    for repeat in range(args.repeats):
        peaks.append(matmul_peak())
        for worker_process in workers:
            steps = args.steps if worker_process.name.startswith("conv_ae") else args.gan_steps
            times[worker_process.name].append(worker_process.time(steps))
        print(f"repeat {repeat + 1}/{args.repeats}: " + "  ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()),
              flush=True)
    for worker_process in workers:
        worker_process.close()
    peak = statistics.median(peaks)
    print(f"\nbatch {BATCH_SIZE}, {EPOCH_IMAGES:,} images per epoch, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} (autoencoder {args.steps} steps, DCGAN {args.gan_steps} steps per run)")
    print(f"fp32 matmul peak measured in this run: {peak:.1f} GFLOP/s")
    for preset in dict.fromkeys(name.split()[0] for name in contenders):
        flops = epoch_flops(preset)
        aegan_time = statistics.median(times[f"{preset} aegan"])
        print(f"\n{preset}: {flops / 1e12:.2f} TFLOP per epoch -> physical limit {flops / peak / 1e9:.1f} s per epoch")
        print(f"{'contender':<16}{'s/epoch':>10}{'vs aegan':>10}{'% of peak':>11}")
        for name in (f"{preset} aegan", f"{preset} plain"):
            median = statistics.median(times[name])
            print(f"{name:<16}{median:>10.2f}{median / aegan_time:>9.2f}x{100 * flops / median / 1e9 / peak:>10.1f}%")


if __name__ == "__main__":
    main()
