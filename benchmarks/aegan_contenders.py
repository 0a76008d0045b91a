"""The aegan contenders of benchmarks/versus_keras.py: aegan's own training steps, and its encoding.

Each model is built from its preset as `aegan train` builds it, and takes the step that aegan's
training loops take: `make_train_step` + `run_epoch` for the autoencoders (the hand-derived
fast path where it applies, e.g. the stacked AE) and the step `train_gan` picks for the GANs
(fast_gan's for the simple GAN, fast_conv's for the DCGAN, trained on images rescaled to [-1, 1]).
Models are built for Fashion-MNIST's description (config.model.for_data) and take (N, 1, 28, 28).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aegan.config import load_config
from aegan.data.fashion_mnist import fashion_mnist_spec
from aegan.models import build_model
from aegan.runs import Run, images_to_tensor
from aegan.training.autoencoder import make_train_step, run_epoch
from aegan.training.gan import epoch_metrics, select_gan_step
from aegan.training.optimizers import build_optimizer
from aegan.training.precision import Precision
from aegan.training.replay import ReplayPool

GAN_KINDS = ("gan", "dcgan")


def build(preset: str, batch_size: int, precision: str = "fp32"):
    """(model, training config) for a preset, at `batch_size` and `precision`, built for Fashion-MNIST."""
    config = load_config(preset)
    training = dataclasses.replace(config.training, batch_size=batch_size, precision=precision)
    return build_model(config.model.for_data(fashion_mnist_spec())), training


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """(parameters and batch-norm statistics, parameters): Keras counts both as weights."""
    parameters = sum(p.numel() for p in model.parameters())
    statistics_ = sum(b.numel() for name, b in model.named_buffers() if not name.endswith("num_batches_tracked"))
    return parameters + statistics_, parameters


def time_autoencoder(preset: str, images: torch.Tensor, batch_size: int, steps: int, warmup: int,
                     precision: str = "fp32") -> dict:
    model, training = build(preset, batch_size, precision)
    total, trainable = parameter_counts(model)
    optimizer = build_optimizer(training.optimizer, model.parameters(), training.learning_rate, training.momentum)
    step, step_name = make_train_step(model, training, optimizer, Precision(precision, "cpu"))
    model.train()
    shuffle = torch.Generator().manual_seed(0)
    epoch_steps = math.ceil(len(images) / batch_size)
    steps = min(steps, epoch_steps)
    run_epoch(step, images, batch_size, shuffle, max_steps=warmup)
    start = time.perf_counter()
    loss_sum = run_epoch(step, images, batch_size, shuffle, max_steps=steps).item()
    seconds = time.perf_counter() - start
    images_seen = min(len(images), steps * batch_size)
    return {"seconds_per_epoch": seconds * epoch_steps / steps, "timed_seconds": seconds, "timed_steps": steps,
            "epoch_steps": epoch_steps, "loss": loss_sum / (images_seen * images[0].numel()),
            "fast_path": step_name != "autograd", "parameters": trainable, "parameters_all": total}


def time_gan(preset: str, images: torch.Tensor, batch_size: int, steps: int, warmup: int,
             precision: str = "fp32") -> dict:
    """The inner loop of aegan.training.gan.train_gan, with the step it picks for the preset."""
    model, training = build(preset, batch_size, precision)
    total, trainable = parameter_counts(model)
    images = model.to_training_range(images)
    optimizer_d = build_optimizer(training.optimizer, model.discriminator.parameters(), training.learning_rate,
                                  training.momentum)
    optimizer_g = build_optimizer(training.optimizer, model.generator.parameters(), training.learning_rate,
                                  training.momentum)
    step, step_name = select_gan_step(model, training, optimizer_d, optimizer_g, ReplayPool(0),
                                      precision=Precision(precision, "cpu"))
    fast = step_name != "autograd"
    model.train()
    epoch_steps = len(images) // batch_size  # whole batches only, as train_gan does
    steps = min(steps, epoch_steps)
    permutation = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    batches = [permutation[(i % epoch_steps) * batch_size:(i % epoch_steps + 1) * batch_size]
               for i in range(warmup + steps)]
    for batch in batches[:warmup]:
        step(images.index_select(0, batch), None)
    start = time.perf_counter()
    step_logits = [step(images.index_select(0, batch), None) for batch in batches[warmup:]]
    g_loss = epoch_metrics(step_logits)["g_loss"]
    seconds = time.perf_counter() - start
    return {"seconds_per_epoch": seconds * epoch_steps / steps, "timed_seconds": seconds, "timed_steps": steps,
            "epoch_steps": epoch_steps, "loss": g_loss, "fast_path": fast,
            "parameters": trainable, "parameters_all": total}


def time_contender(preset: str, kind: str, images: np.ndarray, batch_size: int, steps: int, warmup: int,
                   precision: str = "fp32") -> dict:
    torch.manual_seed(0)
    x = images_to_tensor(images[:, None] if images.ndim == 3 else images)  # (N, 1, 28, 28)
    timer = time_gan if kind in GAN_KINDS else time_autoencoder
    return timer(preset, x, batch_size, steps, warmup, precision)


def encoding_throughput(images: np.ndarray, repeats: int = 3) -> dict:
    """Images per second of Run.encode (the encoder in no_grad over batches of 4,096, uint8 in,
    codings out as numpy) with a freshly built stacked AE: its speed does not depend on training.
    `images`: uint8, (N, 28, 28) or (N, 1, 28, 28)."""
    config = load_config("stacked_ae")
    spec = fashion_mnist_spec()
    config = dataclasses.replace(config, model=config.model.for_data(spec))
    run = object.__new__(Run)  # a Run without a run folder: the untrained model is as fast
    run.path, run.config, run.spec = Path("untrained-stacked_ae"), config, spec
    run.model = build_model(config.model).eval()
    run.encode(images[:5000])  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        codings = run.encode(images)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"images": len(images), "seconds": seconds, "images_per_second": len(images) / seconds,
            "coding_shape": list(codings.shape), "all_seconds": times}


# ---------------------------------------------------------------------------------------------
# FLOPs, counted analytically from the layers (linear, convolution, transposed convolution)
# ---------------------------------------------------------------------------------------------

def layer_macs(module: nn.Module, example: torch.Tensor) -> list[int]:
    """Multiply-adds of each linear or (transposed) convolution layer for one sample, in call order.

    A convolution counts every kernel tap of every output pixel, a transposed convolution every
    tap of every input pixel (padding included): the work of a dense implementation.
    """
    macs: list[int] = []

    def hook(layer, inputs, output):
        x = inputs[0]
        if isinstance(layer, nn.Linear):
            macs.append(layer.in_features * layer.out_features * (x.numel() // x.shape[-1]))
            return
        per_pixel = layer.in_channels * layer.out_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
        pixels = output.shape[2:] if isinstance(layer, nn.Conv2d) else x.shape[2:]  # transposed: input pixels
        macs.append(pixels[0] * pixels[1] * per_pixel)

    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
    handles = [layer.register_forward_hook(hook) for layer in layers]
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            module(example)
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
    return macs


def epoch_flops(preset: str, kind: str, batch_size: int, num_images: int) -> float:
    """FLOPs (2 per multiply-add) of the linear and convolution layers in one epoch.

    Autoencoders: forward, weight gradients and input gradients (none for the first layer, whose
    input is the data), for every image. GANs, per step of n reals: phase 1 = G forward (n),
    D forward, weight and input gradients (2n; no input gradient for D's first layer); phase 2 =
    G forward (n), D forward and input gradients of all its layers (n; no weight gradients,
    D is frozen), G weight and input gradients (n; none for G's first layer).
    """
    model, _ = build(preset, batch_size)
    if kind in GAN_KINDS:
        codings = torch.zeros(1, model.config.coding_size)
        g = layer_macs(model.generator, codings)
        real = torch.zeros(1, 1, 28, 28) if kind == "dcgan" else torch.zeros(1, 28 * 28)
        d = layer_macs(model.discriminator, real)
        per_image = (4 * sum(g) - g[0]) + (8 * sum(d) - 2 * d[0])
        return 2.0 * per_image * batch_size * (num_images // batch_size)
    macs = layer_macs(model, torch.zeros(1, 1, 28, 28))
    return 2.0 * (3 * sum(macs) - macs[0]) * num_images
