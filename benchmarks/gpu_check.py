"""Every image preset for a fixed number of steps on a GPU, in fp32 and bf16: images per second,
the share of the GPU's measured matmul peak, and the same steps in plain PyTorch eager in the same run.

    .venv/bin/python benchmarks/gpu_check.py                      # CUDA, 50 timed steps per row
    .venv/bin/python benchmarks/gpu_check.py --steps 20 --presets conv_ae dcgan --precisions fp32
    .venv/bin/python benchmarks/gpu_check.py --device cpu --steps 2   # a dry run where there is no GPU
    .venv/bin/python benchmarks/gpu_check.py --compile            # also a column with training.compile

aegan: the step aegan's loops take (training/fast_steps.py's selection, training.precision's
autocast). plain eager: the textbook loop on the same model, autocast included (zero_grad,
loss_terms or the two GAN phases written out, backward, optimizer.step, the moving average's
update where the preset keeps one). aegan compiled (--compile): aegan's step with
training.compile = true, timed after its warm-up steps (which compile). A growing model (progan)
is timed at its full size. Data are random images
of Fashion-MNIST's shape (speed does not depend on them), already on the device. The peak is a
large matmul in each precision, measured in the same run; FLOPs are counted from the layers
(benchmarks/aegan_contenders.py). Prints the device, torch's version and one row per preset and
precision; --json writes them too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aegan_contenders  # noqa: E402

from aegan.config import load_config  # noqa: E402
from aegan.data.fashion_mnist import fashion_mnist_spec  # noqa: E402
from aegan.models import FAMILIES, build_model  # noqa: E402
from aegan.training import diffusion  # noqa: E402
from aegan.training.autoencoder import make_train_step  # noqa: E402
from aegan.training.ema import generator_average  # noqa: E402
from aegan.training.gan import gan_optimizers, select_gan_step  # noqa: E402
from aegan.training.gan_losses import discriminator_loss, generator_loss  # noqa: E402
from aegan.training.optimizers import build_optimizer  # noqa: E402
from aegan.training.precision import Precision  # noqa: E402
from aegan.training.replay import ReplayPool  # noqa: E402

PRESETS = ["stacked_ae", "tied_ae", "denoising_gaussian_ae", "sparse_kl_ae", "conv_ae", "feature_ae", "recurrent_ae",
           "vae", "conv_vae", "gan", "cgan", "dcgan", "dcgan_plus", "wgan_gp", "progan", "stylegan", "ddpm", "cddpm"]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, precision: str, size: int = 4096, repeats: int = 10) -> float:
    """Median TFLOP/s of a (size x size) product in the precision (TF32 off for fp32)."""
    if device.type == "cpu":
        size = 1024
    a = torch.rand(size, size, device=device, dtype=DTYPES[precision])
    b = torch.rand(size, size, device=device, dtype=DTYPES[precision])
    for _ in range(3):
        a @ b
    rates = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        a @ b
        synchronize(device)
        rates.append(2 * size ** 3 / (time.perf_counter() - start) / 1e12)
    return statistics.median(rates)


def build(preset: str, device: torch.device, precision: str, compile: bool = False):
    """The preset's model on `device` (a growing one at its full size) and its training config."""
    config = load_config(preset)
    training = dataclasses.replace(config.training, precision=precision, device=device.type, compile=compile)
    spec = fashion_mnist_spec()
    model = build_model(config.model.for_data(spec)).to(device)
    if hasattr(model, "after_training_step"):  # past every phase of the growing schedule
        model.after_training_step(2 * model.config.images_per_phase * model.levels)
    return model, training


def moving_average(network, training):
    return generator_average(network, training.ema_decay) if training.ema_decay else None


def plain_diffusion_step(model, training, precision: Precision, average):
    optimizer = build_optimizer(training.optimizer, model.parameters(), training.learning_rate, training.momentum)

    def step(x, labels):
        with precision.autocast():
            loss = model.loss_terms(x, labels)["loss"]
        optimizer.zero_grad(set_to_none=True)
        precision.backward(loss)
        precision.step(optimizer)
        precision.update()
        if average is not None:
            average.update_parameters(model.denoiser)

    return step


def plain_autoencoder_step(model, training, precision: Precision):
    """The textbook step: torch.autocast (bf16 needs no scaler), backward, the optimizer."""
    optimizer = build_optimizer(training.optimizer, model.parameters(), training.learning_rate, training.momentum)
    device_type = next(model.parameters()).device.type

    def step(x):
        with torch.autocast(device_type, dtype=precision.dtype or torch.float32, enabled=precision.mixed):
            loss = model.loss_terms(x)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def plain_gan_step(model, training, precision: Precision, average):
    optimizers = gan_optimizers(model, training)
    d_optimizer, g_optimizer = optimizers["optimizer_d"], optimizers["optimizer_g"]
    classes = model.config.num_classes

    def step(real, labels):
        n = len(real)
        codings = torch.randn(2 * n, model.config.coding_size, device=real.device)
        fake_labels = None if labels is None else torch.randint(0, classes, (n,), device=real.device)
        with precision.autocast():
            with torch.no_grad():
                fakes = precision.full(model.generate(codings[:n], fake_labels))
            loss = discriminator_loss(training.gan_loss, precision.full(model.discriminate(real, labels)),
                                      precision.full(model.discriminate(fakes, fake_labels)))
        d_optimizer.zero_grad(set_to_none=True)
        precision.backward(loss)
        precision.step(d_optimizer)
        precision.update()
        model.discriminator.requires_grad_(False)
        with precision.autocast():
            loss = generator_loss(training.gan_loss, precision.full(model.discriminate(
                model.generate(codings[n:], fake_labels), fake_labels)))
        g_optimizer.zero_grad(set_to_none=True)
        precision.backward(loss)
        precision.step(g_optimizer)
        precision.update()
        model.discriminator.requires_grad_(True)
        if average is not None:
            average.update_parameters(model.generator)

    return step


def time_steps(step, batches, device: torch.device, warmup: int) -> float:
    for batch in batches[:warmup]:
        step(*batch)
    synchronize(device)
    start = time.perf_counter()
    for batch in batches[warmup:]:
        step(*batch)
    synchronize(device)
    return time.perf_counter() - start


def contender_step(contender: str, model, training, mixed: Precision, loop: str):
    """(step, its name) for one contender: aegan's own selection, or the plain eager loop."""
    network = model.generator if loop == "gan" else model.denoiser if loop == "diffusion" else None
    average = moving_average(network, training) if network is not None else None
    if contender == "plain eager":
        if loop == "gan":
            return plain_gan_step(model, training, mixed, average), "eager"
        if loop == "diffusion":
            return plain_diffusion_step(model, training, mixed, average), "eager"
        return plain_autoencoder_step(model, training, mixed), "eager"
    if loop == "gan":
        optimizers = gan_optimizers(model, training)
        return select_gan_step(model, training, optimizers["optimizer_d"], optimizers["optimizer_g"], ReplayPool(0),
                               average, precision=mixed)
    optimizer = build_optimizer(training.optimizer, model.parameters(), training.learning_rate, training.momentum)
    if loop == "diffusion":
        return diffusion.make_step(model, optimizer, mixed, average, training), \
            "compiled" if training.compile else "autograd"
    return make_train_step(model, training, optimizer, mixed)


def check(preset: str, precision: str, device: torch.device, steps: int, warmup: int, compile: bool = False) -> dict:
    config = load_config(preset)
    kind, batch_size = config.model.kind, config.training.batch_size
    loop = FAMILIES[kind].training_loop
    rows = {}
    for contender in ("aegan", "plain eager", *(("aegan compiled",) if compile else ())):
        torch.manual_seed(0)
        model, training = build(preset, device, precision, compile=contender == "aegan compiled")
        model.train()
        mixed = Precision(precision, device)
        images = torch.rand(batch_size * (warmup + steps), 1, 28, 28, device=device)
        classes = getattr(model.config, "num_classes", 0)
        labels = torch.randint(0, classes, (len(images),), device=device) if classes else None
        if loop in ("gan", "diffusion"):
            images = model.to_training_range(images)
            batches = [(images[i * batch_size:(i + 1) * batch_size],
                        None if labels is None else labels[i * batch_size:(i + 1) * batch_size])
                       for i in range(warmup + steps)]
        else:
            batches = [(images[i * batch_size:(i + 1) * batch_size],) for i in range(warmup + steps)]
        step, name = contender_step(contender, model, training, mixed, loop)
        seconds = time_steps(step, batches, device, warmup)
        rows[contender] = {"images_per_second": steps * batch_size / seconds, "step": name}
    try:  # the layer counter walks plain inputs: not a conditional GAN's, the recurrent AE's or the newer models'
        flops = aegan_contenders.epoch_flops(preset, kind, batch_size, batch_size) / batch_size
    except (RuntimeError, TypeError, ValueError, KeyError, AttributeError):
        flops = None
    return {"preset": preset, "precision": precision, "batch_size": batch_size, "steps": steps,
            "flops_per_image": flops, **rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--presets", nargs="+", default=PRESETS, choices=PRESETS)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=list(DTYPES))
    parser.add_argument("--compile", action="store_true", help="also time aegan's step with training.compile")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA GPU is visible; run it where there is one (or --device cpu for a dry run)")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        name = torch.cuda.get_device_name(device)
    else:
        from aegan.runtime import cpu_description

        name = cpu_description()
    peaks = {precision: matmul_peak(device, precision) for precision in args.precisions}
    print(f"gpu_check: {name}; torch {torch.__version__}; matmul peak "
          + ", ".join(f"{p} {v:.1f} TFLOP/s" for p, v in peaks.items()), flush=True)
    compiled_header = f"{'compiled/eager':>16}" if args.compile else ""
    print(f"{'preset':<24}{'precision':<11}{'aegan img/s':>13}{'eager img/s':>13}{'aegan/eager':>13}"
          f"{compiled_header}{'% of peak':>11}  aegan's step", flush=True)
    results = []
    for preset in args.presets:
        for precision in args.precisions:
            row = check(preset, precision, device, args.steps, args.warmup, args.compile)
            results.append(row)
            rate, eager = row["aegan"]["images_per_second"], row["plain eager"]["images_per_second"]
            share = (f"{100 * rate * row['flops_per_image'] / (peaks[precision] * 1e12):.1f}%"
                     if row["flops_per_image"] else "-")
            compiled_ratio = (f"{row['aegan compiled']['images_per_second'] / eager:>15.2f}x"
                              if args.compile else "")
            print(f"{preset:<24}{precision:<11}{rate:>13,.0f}{eager:>13,.0f}{rate / eager:>12.2f}x{compiled_ratio}"
                  f"{share:>11}  "
                  f"{row['aegan']['step']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"device": name, "torch": torch.__version__, "peaks_tflops": peaks,
                                               "rows": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
