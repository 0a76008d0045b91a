"""Time per epoch of the seed's GAN (batch 32, 55,000 images), aegan's step against autograd.

Contenders, alternated and repeated (median of the repeats), each over --steps steps of the
two-phase loop scaled to a full epoch (1,718 steps):
  aegan        the step aegan uses (hand-derived, fused RMSprop; training/fast_gan.py)
  plain        autograd + torch.optim.RMSprop, the loop of training/gan.py

    .venv/bin/python benchmarks/gan_epoch.py [--repeats 5] [--steps 600]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from aegan.config import load_config
from aegan.data import load_fashion_mnist
from aegan.data.fashion_mnist import fashion_mnist_spec
from aegan.models import build_model
from aegan.runs import images_to_tensor
from aegan.training.fast_gan import make_fast_gan_step
from aegan.training.gan import epoch_metrics, make_gan_step
from aegan.training.optimizers import build_optimizer
from aegan.training.replay import ReplayPool


def time_contender(maker, config, images, steps: int) -> float:
    torch.manual_seed(0)
    model = build_model(config.model.for_data(fashion_mnist_spec()))
    optimizer_d = build_optimizer("rmsprop", model.discriminator.parameters(), config.training.learning_rate)
    optimizer_g = build_optimizer("rmsprop", model.generator.parameters(), config.training.learning_rate)
    step = maker(model, optimizer_d, optimizer_g, ReplayPool(0))
    batch_size = config.training.batch_size
    permutation = torch.randperm(len(images))
    batches = [permutation[i * batch_size:(i + 1) * batch_size] for i in range(steps + 20)]
    for batch in batches[:20]:  # warm-up
        step(images.index_select(0, batch), None)
    start = time.perf_counter()
    step_logits = [step(images.index_select(0, batch), None) for batch in batches[20:]]
    metrics = epoch_metrics(step_logits)
    seconds = time.perf_counter() - start
    assert all(math.isfinite(value) for value in metrics.values())
    return seconds * (len(images) // batch_size) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args()
    config = load_config("gan")
    images = images_to_tensor(load_fashion_mnist().train_images[:, None])  # (N, 1, 28, 28), in [0, 1]
    contenders = {"aegan": make_fast_gan_step, "plain": make_gan_step}
    times = {name: [] for name in contenders}
    for repeat in range(args.repeats):
        for name, maker in contenders.items():
            times[name].append(time_contender(maker, config, images, args.steps))
        print(f"repeat {repeat + 1}/{args.repeats}: " + "  ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()),
              flush=True)
    aegan_time = statistics.median(times["aegan"])
    print(f"\nsimple GAN, batch 32, 55,000 images per epoch, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} (each {args.steps} steps, scaled to 1,718)")
    print(f"{'contender':<12}{'s/epoch':>10}{'vs aegan':>10}")
    for name, values in times.items():
        print(f"{name:<12}{statistics.median(values):>10.3f}{statistics.median(values) / aegan_time:>9.2f}x")
    print("reference, measured on these machines (REFERENCE.md): the seed's Keras loop about 26 s per epoch, "
          f"a tuned Keras loop 5-6.5 s -> aegan {26 / aegan_time:.1f}x and {5.0 / aegan_time:.1f}-"
          f"{6.5 / aegan_time:.1f}x faster")


if __name__ == "__main__":
    main()
