"""Faster CPU training steps for the convolutional autoencoder and the DCGAN: the same math.

Profiling one step (batch 32) showed where the plain autograd step loses time. Each change
below removes one cause without changing what is computed, and was kept only where A/B runs
(alternated, medians) showed a gain; benchmarks/conv_epoch.py times the whole steps.

* Memory (both): glibc hands activations above 128 KiB back to the OS when they are freed,
  so a plain step page-faults 1,000-2,000 times on fresh pages; `runtime.keep_freed_memory`
  keeps them for reuse.
* Autoencoder, layout: it runs channels-last (NHWC), the layout that oneDNN's convolutions
  and torch's max pooling are vectorised for (max pooling 10x faster; the step 25% faster).
* Autoencoder, pooling: the encoder applies SELU, then 2x2 max pooling. SELU is increasing,
  so max(selu(a), selu(b)) = selu(max(a, b)): pooling first computes SELU and its derivative
  on a quarter of the values and sends the gradient to the same maximum (20% faster). Only
  where two different inputs round to the same SELU value can the chosen maximum differ; the
  gradient then goes, with the same value, to the other pixel of the tie.
* DCGAN, dropout: torch draws a dropout mask one element at a time (bernoulli_, on CPUs
  where it does not call MKL), 13% of a step. `dropout` draws the very same mask and random
  state with torch.rand, 1.7x faster (8% a step).
* DCGAN, single-plane convolutions: oneDNN runs the layers that read or write a one-channel
  image (the discriminator's first convolution, the generator's last transposed one) at
  2-5 GFLOP/s. (Only those of grayscale images, and only where stride, padding and output
  padding are the same for height and width: other layers run as torch's.) `PlaneConv2d` and `PlaneConvTranspose2d` write their gradients and the
  transposed forward as GEMMs over the image's windows: 1.5-2x faster per layer, 2-5% a step.
  (For the autoencoder's smaller such layers they are not faster, so it does not use them.)

Tried and dropped (no gain, or not the same results): torch.compile (60 s to compile, 4%),
a hand-derived backward without autograd (0%), foreach/fused optimizers (0%), batching the
discriminator's reals and fakes (0%), channels-last for the DCGAN (0%), GEMM rewrites of the
autoencoder's transposed convolutions (0%), SELU's derivative from its output (2%, changes rounding).

Both steps keep autograd and the torch optimizers, so optimizer state and checkpoints are
as before. Sums are taken in another order (channels-last kernels, GEMMs), so results agree
with the plain step to rounding, and to 1e-9 in float64 (tests/test_fast_conv.py).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from aegan.runtime import keep_freed_memory


def _square(value) -> int:
    """A kernel size, stride or padding given as an int or as an equal pair."""
    values = (value, value) if isinstance(value, int) else tuple(value)
    if len(values) != 2 or values[0] != values[1]:
        raise ValueError(f"expected a square setting, got {value!r}")
    return values[0]


def _plain_layer(module: nn.Module) -> bool:
    """A convolution without groups, dilation, string padding or non-zero padding modes."""
    return (module.groups == 1 and tuple(module.dilation) == (1, 1) and module.padding_mode == "zeros"
            and not isinstance(module.padding, str) and module.bias is not None
            and len(set(module.kernel_size)) == 1 and len(set(module.stride)) == 1 and len(set(module.padding)) == 1)


def is_plane_conv(module: nn.Module) -> bool:
    """A convolution that PlaneConv2d / PlaneConvTranspose2d compute: one input (Conv2d) or output plane."""
    if type(module) is nn.Conv2d:
        return module.in_channels == 1 and _plain_layer(module)
    if type(module) is nn.ConvTranspose2d:
        return module.out_channels == 1 and _plain_layer(module) and len(set(module.output_padding)) == 1
    return False


def _windows(images: torch.Tensor, kernel: int, stride: int, padding: int) -> torch.Tensor:
    """The (N, k*k, L) windows of single-plane images (N, H, W), as F.unfold makes them, in one copy.

    (F.unfold runs a parallel loop per image on one-channel input: at two threads on a shared
    machine we measured 250 ms a call, against 0.4 ms at one thread; this copy takes 0.2 ms.)
    """
    n, height, width = images.shape
    padded = F.pad(images, (padding,) * 4)
    rows, columns = (height + 2 * padding - kernel) // stride + 1, (width + 2 * padding - kernel) // stride + 1
    step_n, step_h, step_w = padded.stride()
    return padded.as_strided((n, kernel, kernel, rows, columns),
                             (step_n, step_h, step_w, stride * step_h, stride * step_w)).reshape(n, kernel * kernel, -1)


class PlaneConv2d(torch.autograd.Function):
    """conv2d(x, weight, bias) for x with one channel; the backward pass as GEMMs.

    The forward pass is oneDNN's (fast enough here). Gradients, with cols (N, k*k, L) the
    windows of x: d weight = the sum over images of grad (C, L) @ cols^T, d x = fold(weight^T @ grad).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride: int, padding: int):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        n, channels, kernel = len(x), weight.shape[0], weight.shape[-1]
        matrix = weight.reshape(channels, kernel * kernel)
        grad = grad.contiguous().view(n, channels, -1)  # (N, C, L)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            cols = torch.matmul(matrix.t(), grad)  # (N, k*k, L)
            grad_x = F.fold(cols, x.shape[-2:], kernel, padding=ctx.padding, stride=ctx.stride)
        if ctx.needs_input_grad[1]:
            cols = _windows(x.reshape(n, *x.shape[-2:]), kernel, ctx.stride, ctx.padding)  # (N, k*k, L)
            grad_weight = torch.matmul(grad, cols.transpose(1, 2)).sum(0).view_as(weight)
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum((0, 2))
        return grad_x, grad_weight, grad_bias, None, None


class PlaneConvTranspose2d(torch.autograd.Function):
    """conv_transpose2d(x, weight, bias) with one output channel, all as GEMMs.

    Forward: each input pixel spreads its k*k window, weight^T @ x, and the windows are
    overlap-added (fold), plus the bias. Backward: with the windows of grad gcols
    (N, k*k, L), d x = weight @ gcols and d weight = sum over images of x (C, L) @ gcols^T.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride: int, padding: int, output_padding: int):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        n, channels, height, width = x.shape
        kernel = weight.shape[-1]
        size = [(side - 1) * stride - 2 * padding + kernel + output_padding for side in (height, width)]
        matrix = weight.reshape(channels, kernel * kernel)
        cols = torch.matmul(matrix.t(), x.contiguous().view(n, channels, height * width))  # (N, k*k, L)
        return F.fold(cols, size, kernel, padding=padding, stride=stride).add_(bias.view(1, 1, 1, 1))

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        n, channels = x.shape[:2]
        kernel = weight.shape[-1]
        matrix = weight.reshape(channels, kernel * kernel)
        gcols = _windows(grad.reshape(n, *grad.shape[-2:]), kernel, ctx.stride, ctx.padding)  # (N, k*k, L)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.matmul(matrix, gcols).view(x.shape)
        if ctx.needs_input_grad[1]:
            rows = x.contiguous().view(n, channels, -1)  # (N, C, L)
            grad_weight = torch.matmul(rows, gcols.transpose(1, 2)).sum(0).view_as(weight)
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum().view(1)
        return grad_x, grad_weight, grad_bias, None, None, None


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """F.dropout(x, p, training=True), with the same mask and random state, drawn 1.7x faster.

    On the CPU, where bernoulli_ does not go to MKL (AMD CPUs), dropout keeps an element when
    u < 1 - p, for u drawn from the global generator as 53 random bits / 2**53, one element
    after the other; torch.rand in float64 draws exactly those u, faster (no per-element
    distribution object). `reproduces_torch_dropout` checks this once per process.
    """
    keep = 1 - p
    noise = (torch.rand(x.shape, dtype=torch.float64) < keep).to(x.dtype)
    return x * noise.div_(keep)  # as at::native::_dropout_impl: input * (bernoulli(1 - p) / (1 - p))


@functools.cache
def reproduces_torch_dropout() -> bool:
    """Whether dropout() gives F.dropout's mask and random state here (checked, state restored)."""
    saved = torch.get_rng_state()
    try:
        ones = torch.ones(3, 700)
        expected = F.dropout(ones, 0.4, training=True)
        expected_state = torch.get_rng_state()
        torch.set_rng_state(saved)
        return torch.equal(dropout(ones, 0.4), expected) and torch.equal(torch.get_rng_state(), expected_state)
    finally:
        torch.set_rng_state(saved)


def apply_layer(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """module(x), through PlaneConv2d / PlaneConvTranspose2d and dropout() where they apply."""
    if type(module) is nn.Dropout and module.training and 0 < module.p < 1 and x.device.type == "cpu":
        return dropout(x, module.p) if reproduces_torch_dropout() else module(x)
    if not is_plane_conv(module):
        return module(x)
    stride, padding = _square(module.stride), _square(module.padding)
    if type(module) is nn.Conv2d:
        return PlaneConv2d.apply(x, module.weight, module.bias, stride, padding)
    return PlaneConvTranspose2d.apply(x, module.weight, module.bias, stride, padding, _square(module.output_padding))


def run_layers(layers, x: torch.Tensor) -> torch.Tensor:
    """A Sequential's forward pass, with apply_layer."""
    for layer in layers:
        x = apply_layer(layer, x)
    return x


# --- the convolutional autoencoder ----------------------------------------------------------

def supports_autoencoder(model, training) -> bool:
    """Whether `model` (with `training`, a TrainingConfig) can take the fast step: the conv
    autoencoder on the CPU, any image shape and either reconstruction loss (it runs the model's
    own layers; only the order of pooling and SELU changes)."""
    from aegan.models.conv_autoencoder import ConvAutoencoder

    if not training.fast_path or type(model) is not ConvAutoencoder:
        return False
    if any(p.device.type != "cpu" for p in model.parameters()):
        return False
    encoder = list(model.encoder)
    triples = [encoder[i:i + 3] for i in range(0, len(encoder), 3)]
    return len(encoder) % 3 == 0 and all(
        type(conv) is nn.Conv2d and type(activation) is nn.SELU and type(pool) is nn.MaxPool2d
        for conv, activation, pool in triples)


def autoencoder_loss(model, x: torch.Tensor) -> torch.Tensor:
    """model.loss_terms(x)["loss"], pooling before SELU."""
    n = len(x)
    h = model.noise(x).reshape(n, *model.config.input_shape)  # (N, C, H, W)
    encoder = list(model.encoder)
    for conv, activation, pool in (encoder[i:i + 3] for i in range(0, len(encoder), 3)):
        h = activation(pool(conv(h)))  # = pool(activation(conv(h))): SELU is increasing
    # (encode() flattens the codings and decode_logits() reshapes them back: h as it is.)
    logits = model.decoder(h).reshape(n, -1)
    return model.loss_from_logits(logits, x.reshape(n, -1))


def make_autoencoder_step(model, optimizer):
    """The autoencoder step of training/autoencoder.py, channels-last, with autoencoder_loss.

    Converts the model's parameters to channels-last in place: the same values, and the same
    Parameter objects, so the optimizer keeps them and its state.
    """
    keep_freed_memory()
    model.to(memory_format=torch.channels_last)

    def step(x: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = autoencoder_loss(model, x)
        loss.backward()
        optimizer.step()
        return loss.detach() * x.numel()

    return step


# --- the DCGAN -----------------------------------------------------------------------------

def supports_gan(model, training) -> bool:
    """The unconditional DCGAN on the CPU, its discriminator as the chapter's (no minibatch
    discrimination or standard deviation, packing or spectral norm) and no penalty on its gradients
    (the one-plane layers differentiate once); any loss, critic steps, moving average, replay or
    augmentation, any image shape and output activation (layers that are not square, or have more
    than one plane, run as torch's)."""
    from aegan.models.gan import GAN

    if not (training.fast_path and isinstance(model, GAN) and model.config.kind == "dcgan"):
        return False
    config = model.config
    return (not config.num_classes and not config.minibatch_kernels and not config.minibatch_std
            and not config.spectral_norm and config.pack == 1
            and not getattr(training, "gradient_penalty", 0.0) and not getattr(training, "r1_penalty", 0.0)
            and all(p.device.type == "cpu" for p in model.parameters()))


class FastDCGAN:
    """model.generate / model.discriminate of an unconditional DCGAN, layer by layer via apply_layer."""

    def __init__(self, model):
        self.model, self.config = model, model.config

    def generate(self, codings: torch.Tensor, labels=None) -> torch.Tensor:
        out = self.model.activate(run_layers(self.model.generator, codings))
        return out.reshape(len(codings), *self.config.input_shape)

    def discriminate(self, images: torch.Tensor, labels=None) -> torch.Tensor:
        features = run_layers(self.model.discriminator.features, images.reshape(len(images), *self.config.input_shape))
        return self.model.discriminator.output(features).squeeze(1)


def make_dcgan_step(model, optimizer_d, optimizer_g, replay, training=None, average=None):
    """The two-phase step of training/gan_step.py with its options, the networks run by FastDCGAN."""
    from aegan.training.gan_step import make_gan_step

    keep_freed_memory()
    reproduces_torch_dropout()  # checked now rather than inside the first step (it restores the random state)
    return make_gan_step(model, optimizer_d, optimizer_g, replay, training, networks=FastDCGAN(model), average=average)
