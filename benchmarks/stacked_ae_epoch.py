"""Time per epoch of the seed's stacked autoencoder at batch 32, against peers in the same run.

Contenders, alternated and repeated (median of the repeats):
  aegan        the training step aegan uses (hand-derived SGD step, default threads)
  plain-1t     autograd + torch.optim.SGD, 1 thread
  plain-2t     autograd + torch.optim.SGD, default threads
Also printed: the fp32 matmul peak measured now, the FLOPs of one epoch and the share of
the peak that each contender reaches. Plain peers are timed over a slice of an epoch
(--plain-steps) and scaled to 55,000 images.

    .venv/bin/python benchmarks/stacked_ae_epoch.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from aegan.config import load_config
from aegan.data import load_fashion_mnist
from aegan.data.fashion_mnist import fashion_mnist_spec
from aegan.models import build_model
from aegan.runs import images_to_tensor
from aegan.training.autoencoder import make_train_step, run_epoch
from aegan.training.optimizers import build_optimizer


def matmul_peak(size: int = 2048, repeats: int = 10) -> float:
    """Median GFLOP/s of an fp32 (size x size) @ (size x size) product."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    for _ in range(3):
        a @ b
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        rates.append(2 * size**3 / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates)


def epoch_flops(model, num_samples: int) -> float:
    """Multiply-adds x 2 of forward, weight gradients and input gradients (none for the first layer)."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    per_sample = sum(2 * m.in_features * m.out_features for m in linears) * 2  # forward + weight grads
    per_sample += sum(2 * m.in_features * m.out_features for m in linears[1:])  # input gradients
    return per_sample * num_samples


def time_contender(config, images, threads: int, fast: bool, max_steps: int | None) -> float:
    """Seconds per epoch of 55,000 images (scaled when only max_steps steps are timed)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(config.model)  # config.model resolved for the data (main)
    training = config.training.__class__(**{**config.training.__dict__, "fast_path": fast})
    optimizer = build_optimizer("sgd", model.parameters(), training.learning_rate)
    step, _ = make_train_step(model, training, optimizer)
    shuffle = torch.Generator().manual_seed(0)
    run_epoch(step, images, training.batch_size, shuffle, max_steps=50)  # warm-up
    start = time.perf_counter()
    loss = run_epoch(step, images, training.batch_size, shuffle, max_steps=max_steps).item()
    seconds = time.perf_counter() - start
    assert loss == loss, "loss is NaN"
    steps = -(-len(images) // training.batch_size)
    return seconds * steps / min(steps, max_steps or steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--plain-steps", type=int, default=300)
    args = parser.parse_args()

    default_threads = torch.get_num_threads()
    config = load_config("stacked_ae")
    config = dataclasses.replace(config, model=config.model.for_data(fashion_mnist_spec()))
    images = images_to_tensor(load_fashion_mnist().train_images[:, None])  # (N, 1, 28, 28)
    flops = epoch_flops(build_model(config.model), len(images))
    contenders = {
        "aegan": (default_threads, True, None),
        "plain-1t": (1, False, args.plain_steps),
        f"plain-{default_threads}t": (default_threads, False, args.plain_steps),
    }
    times = {name: [] for name in contenders}
    peaks = []
    for repeat in range(args.repeats):
        torch.set_num_threads(default_threads)
        peaks.append(matmul_peak())
        for name, (threads, fast, steps) in contenders.items():
            times[name].append(time_contender(config, images, threads, fast, steps))
        print(f"repeat {repeat + 1}/{args.repeats}: " +
              "  ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()), flush=True)
    peak = statistics.median(peaks)
    aegan_time = statistics.median(times["aegan"])
    print(f"\nstacked AE, batch 32, {len(images):,} images per epoch, {default_threads} threads, "
          f"median of {args.repeats}")
    print(f"fp32 matmul peak measured in this run: {peak:.1f} GFLOP/s ({default_threads} threads)")
    print(f"FLOPs per epoch: {flops / 1e9:.1f} GFLOP -> physical limit {flops / peak / 1e9:.2f} s per epoch\n")
    print(f"{'contender':<12}{'s/epoch':>10}{'vs aegan':>10}{'% of peak':>11}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<12}{median:>10.3f}{median / aegan_time:>9.2f}x{100 * flops / median / 1e9 / peak:>10.1f}%")


if __name__ == "__main__":
    main()
