"""Denoising diffusion (Ho et al. 2020) with DDIM sampling (Song et al. 2021) and classifier-free
guidance (Ho & Salimans 2022).

Training adds Gaussian noise to an image at a random step t of a fixed schedule,
x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, and teaches the U-Net (models/unet.py) to predict the
noise eps (or v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0) with a mean squared error. Sampling starts
from pure noise and walks the schedule back: DDPM's ancestral steps (all `num_timesteps`) or DDIM's
(any number of them; eta = 0 is deterministic, eta = 1 with every step is DDPM). With
`conditional`, the label is dropped (replaced by a "no class" index) for `class_dropout` of the
training images, and sampling mixes the two predictions: uncond + guidance * (cond - uncond).

Images of data in [0, 1] are trained in [-1, 1] and the predicted x_0 is clipped there while
sampling; standardised data is used as it is.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aegan.errors import AeganError
from aegan.models.autoencoders import check_input_shape, data_input_shape, require_image_layout, require_resolved
from aegan.models.unet import UNet

NOISE_SCHEDULES = ("cosine", "linear")
SAMPLE_CHUNK = 128  # images denoised together by `sample` (faster than thousands at once on a CPU)
PREDICTIONS = ("epsilon", "v")


@dataclass(frozen=True)
class DDPMConfig:
    kind: str = "ddpm"
    input_shape: tuple[int, ...] = ()  # () = the data's (channels, height, width) (for_data)
    channels: tuple[int, ...] = (32, 64, 64)  # the U-Net's width at each resolution (halved per level)
    attention: bool = True  # self-attention at the lowest resolution
    dropout: float = 0.0
    num_timesteps: int = 1000
    noise_schedule: str = "cosine"  # cosine (Nichol & Dhariwal 2021) or linear (Ho et al. 2020)
    prediction: str = "epsilon"  # what the U-Net predicts: the noise (epsilon) or v (Salimans & Ho 2022)
    conditional: bool = False  # the data's class labels condition the U-Net (classifier-free guidance)
    num_classes: int = 0  # resolved from the data when conditional
    class_dropout: float = 0.1  # conditional: share of training images shown without their label
    sample_steps: int = 50  # DDIM steps of `sample` (aegan sample --steps overrides)
    guidance: float = 1.0  # conditional: the guidance weight of `sample` (1: plain conditional)
    value_range: str = "auto"  # auto; unit: data in [0, 1] (trained in [-1, 1]); standardized: as it is

    def __post_init__(self):
        check_input_shape(self, dims=(3,))
        if not self.channels or min(self.channels) <= 0:
            raise AeganError(f"model.channels={list(self.channels)}: expected one positive width per resolution")
        for key, value, choices in (("noise_schedule", self.noise_schedule, NOISE_SCHEDULES),
                                    ("prediction", self.prediction, PREDICTIONS),
                                    ("value_range", self.value_range, ("auto", "unit", "standardized"))):
            if value not in choices:
                raise AeganError(f"model.{key}={value!r}: expected one of {', '.join(map(repr, choices))}")
        if self.num_timesteps < 2:
            raise AeganError(f"model.num_timesteps={self.num_timesteps}: expected 2 or more (1000 is usual)")
        if not 1 <= self.sample_steps <= self.num_timesteps:
            raise AeganError(f"model.sample_steps={self.sample_steps}: expected 1 to model.num_timesteps "
                             f"({self.num_timesteps})")
        if not 0 <= self.class_dropout < 1 or not 0 <= self.dropout < 1:
            raise AeganError("model.class_dropout and model.dropout: expected a share in [0, 1)")
        if self.guidance < 0:
            raise AeganError(f"model.guidance={self.guidance}: expected 0 or more (1: no guidance)")

    @property
    def resolved(self) -> bool:
        return (len(self.input_shape) == 3 and self.value_range != "auto"
                and (self.num_classes > 0 or not self.conditional))

    def for_data(self, spec) -> "DDPMConfig":
        """This config with the data's image shape, value range and (conditional) number of classes."""
        require_image_layout("ddpm", spec, "vae")
        num_classes = 0
        if self.conditional:
            if not spec.has_labels:
                raise AeganError("a conditional ddpm needs class labels: give a folder with one subfolder per "
                                 "class, or labels in the npz; or set model.conditional=false")
            num_classes = spec.num_classes
        value_range = self.value_range if self.value_range != "auto" else (
            "unit" if spec.unit_range else "standardized")
        if value_range == "unit" and not spec.unit_range:
            raise AeganError("model.value_range='unit', but the data is not in [0, 1]: set it to 'auto'")
        return dataclasses.replace(self, input_shape=data_input_shape(self, spec), value_range=value_range,
                                   num_classes=num_classes)


def cosine_alpha_bar(t: torch.Tensor, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal's f(t) = cos((t + s) / (1 + s) * pi / 2)^2 at fractions t of the schedule."""
    return torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2


def noise_schedule(name: str, num_timesteps: int) -> torch.Tensor:
    """The betas (float64, one per step): cosine: 1 - abar_t / abar_(t-1) from cosine_alpha_bar,
    clipped at 0.999; linear: 1e-4 to 0.02 over 1000 steps (rescaled for other lengths)."""
    if name == "cosine":
        f = cosine_alpha_bar(torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps)
        return (1 - f[1:] / f[:-1]).clamp(max=0.999)
    scale = 1000 / num_timesteps
    return torch.linspace(scale * 1e-4, scale * 0.02, num_timesteps, dtype=torch.float64)


class DDPM(nn.Module):
    """`loss_terms(x, labels)` for training; `sample(n, ...)`, `ddim(noise, ...)`, `ddpm(noise, ...)` to generate."""

    capabilities = frozenset({"sample", "interpolate"})
    training_loop = "diffusion"
    evaluations = ("generative",)
    averaged_network = "denoiser"  # a run with training.ema_decay samples from this network's average
    interpolation = "spherical"  # between Gaussian noises, along the sphere they concentrate on
    sampling_options = ("steps", "guidance")

    def __init__(self, config: DDPMConfig):
        super().__init__()
        require_resolved(config)
        self.config = config
        self.denoiser = UNet(config.input_shape[0], tuple(config.channels), config.num_classes,
                             config.attention, config.dropout)
        betas = noise_schedule(config.noise_schedule, config.num_timesteps)
        alphas_cumprod = torch.cumprod(1 - betas, dim=0)
        self.register_buffer("alphas_cumprod", alphas_cumprod.float(), persistent=False)
        self.alphas_cumprod64 = alphas_cumprod  # for the sampler's per-step scalars (not a buffer: stays float64)

    @property
    def coding_size(self) -> int:
        """The size of the noise a sample starts from (one value per pixel and channel)."""
        return math.prod(self.config.input_shape)

    @property
    def unit_range(self) -> bool:
        return self.config.value_range == "unit"

    def to_training_range(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 - 1 if self.unit_range else x

    def from_training_range(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 1) / 2 if self.unit_range else x

    # training

    def noisy(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise, per sample's step t."""
        abar = self.alphas_cumprod[t].view(-1, *[1] * (x0.dim() - 1))
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def target(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        if self.config.prediction == "epsilon":
            return noise
        abar = self.alphas_cumprod[t].view(-1, *[1] * (x0.dim() - 1))
        return abar.sqrt() * noise - (1 - abar).sqrt() * x0

    def loss_terms(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, denoiser: nn.Module | None = None) -> dict:
        """The mean squared error of the prediction at random steps, on images in the data's model
        scale ([0, 1] for unit-range data); random draws from `generator` (the global one when None).
        `denoiser` replaces self.denoiser (data-parallel training's wrapped one)."""
        x0 = self.to_training_range(x.reshape(len(x), *self.config.input_shape))
        n = len(x0)
        t = torch.randint(0, self.config.num_timesteps, (n,), generator=generator).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        if self.config.num_classes:
            if labels is None:
                raise AeganError("a conditional ddpm trains on labelled data: give the labels")
            dropped = torch.rand(n, generator=generator).to(x0.device) < self.config.class_dropout
            labels = torch.where(dropped, torch.full_like(labels, self.config.num_classes), labels)
        prediction = (denoiser or self.denoiser)(self.noisy(x0, t, noise), t, labels)
        loss = F.mse_loss(prediction.float(), self.target(x0, t, noise))
        return {"loss": loss}

    # sampling

    def _predict(self, x: torch.Tensor, step: int, labels: torch.Tensor | None, guidance: float,
                 denoiser: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """(eps, x0) predicted at `step` from x_t, with guidance; x0 clipped to [-1, 1] for unit-range
        data and eps recomputed from it, so that DDPM's and DDIM's steps agree."""
        t = torch.full((len(x),), step, device=x.device, dtype=torch.long)
        if labels is not None and guidance != 1.0:
            null = torch.full_like(labels, self.config.num_classes)
            both = denoiser(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null])).float()
            conditional, unconditional = both.chunk(2)
            out = unconditional + guidance * (conditional - unconditional)
        else:
            out = denoiser(x, t, labels).float()
        abar = float(self.alphas_cumprod64[step])
        if self.config.prediction == "epsilon":
            x0 = (x - math.sqrt(1 - abar) * out) / math.sqrt(abar)
        else:
            x0 = math.sqrt(abar) * x - math.sqrt(1 - abar) * out
        if self.unit_range:
            x0 = x0.clamp(-1, 1)
        eps = (x - math.sqrt(abar) * x0) / math.sqrt(1 - abar)
        return eps, x0

    def _labels(self, n: int, labels, generator, device) -> torch.Tensor | None:
        if not self.config.num_classes:
            if labels is not None:
                raise AeganError("this ddpm is not conditional: drop --label, or train with model.conditional=true")
            return None
        if labels is None:
            labels = torch.randint(0, self.config.num_classes, (n,), generator=generator)
        labels = torch.as_tensor(labels)
        return (labels.expand(n) if labels.dim() == 0 else labels).to(device)

    def random_labels(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor | None:
        return torch.randint(0, self.config.num_classes, (n,), generator=generator) if self.config.num_classes \
            else None

    def timesteps(self, steps: int) -> list[int]:
        """DDIM's `steps` time steps, evenly spread from the last to the first, descending."""
        total = self.config.num_timesteps
        if not 1 <= steps <= total:
            raise AeganError(f"--steps {steps}: expected 1 to {total} (the model's number of time steps)")
        return sorted({round(i * (total - 1) / max(steps - 1, 1)) for i in range(steps)}, reverse=True)

    @torch.no_grad()
    def ddim(self, noise: torch.Tensor, steps: int | None = None, eta: float = 0.0, labels=None,
             guidance: float | None = None, generator: torch.Generator | None = None,
             denoiser: nn.Module | None = None) -> torch.Tensor:
        """Images in the training range from `noise` (x_T) in `steps` DDIM steps; eta = 0 is deterministic."""
        denoiser = denoiser or self.denoiser
        guidance = self.config.guidance if guidance is None else guidance
        labels = self._labels(len(noise), labels, generator, noise.device)
        schedule = self.timesteps(steps or self.config.sample_steps)
        x = noise
        for index, step in enumerate(schedule):
            previous = schedule[index + 1] if index + 1 < len(schedule) else -1
            abar = float(self.alphas_cumprod64[step])
            abar_prev = float(self.alphas_cumprod64[previous]) if previous >= 0 else 1.0
            eps, x0 = self._predict(x, step, labels, guidance, denoiser)
            sigma = eta * math.sqrt((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev))
            x = math.sqrt(abar_prev) * x0 + math.sqrt(max(1 - abar_prev - sigma ** 2, 0.0)) * eps
            if sigma > 0:
                x = x + sigma * torch.randn(x.shape, generator=generator).to(x.device)
        return x

    @torch.no_grad()
    def ddpm(self, noise: torch.Tensor, labels=None, guidance: float | None = None,
             generator: torch.Generator | None = None, denoiser: nn.Module | None = None) -> torch.Tensor:
        """Images in the training range from `noise` by DDPM's ancestral sampling, every step:
        x_(t-1) = the posterior mean from (x_t, predicted x_0) + its standard deviation * z."""
        denoiser = denoiser or self.denoiser
        guidance = self.config.guidance if guidance is None else guidance
        labels = self._labels(len(noise), labels, generator, noise.device)
        x = noise
        for step in reversed(range(self.config.num_timesteps)):
            abar = float(self.alphas_cumprod64[step])
            abar_prev = float(self.alphas_cumprod64[step - 1]) if step > 0 else 1.0
            beta = 1 - abar / abar_prev
            _, x0 = self._predict(x, step, labels, guidance, denoiser)
            mean = (math.sqrt(abar_prev) * beta / (1 - abar)) * x0 + (math.sqrt(1 - beta) * (1 - abar_prev)
                                                                       / (1 - abar)) * x
            variance = beta * (1 - abar_prev) / (1 - abar)
            x = mean + math.sqrt(variance) * torch.randn(x.shape, generator=generator).to(x.device) \
                if step > 0 else mean
        return x

    def decode(self, codings: torch.Tensor, labels=None, steps: int | None = None) -> torch.Tensor:
        """Deterministic DDIM samples (N, *input_shape), in the data's model scale, from flat noises."""
        noise = codings.reshape(len(codings), *self.config.input_shape)
        return self.from_training_range(self.ddim(noise, steps, eta=0.0, labels=labels))

    def sample(self, n: int, generator: torch.Generator | None = None, labels=None, steps: int | None = None,
               guidance: float | None = None, method: str = "ddim") -> torch.Tensor:
        """`n` new samples in the data's model scale ([0, 1] for unit-range data): DDIM with `steps`
        (default model.sample_steps) or, with method="ddpm", every step of the schedule."""
        device = next(self.parameters()).device
        noise = torch.randn((n, *self.config.input_shape), generator=generator).to(device)
        labels = self._labels(n, labels, generator, device)
        was_training = self.training
        self.eval()
        if method not in ("ddim", "ddpm"):
            raise AeganError(f"method={method!r}: expected 'ddim' or 'ddpm'")
        chunks = []
        try:  # SAMPLE_CHUNK images at a time: the U-Net's activations for thousands at once outgrow the caches
            for start in range(0, n, SAMPLE_CHUNK):
                part = slice(start, start + SAMPLE_CHUNK)
                part_labels = None if labels is None else labels[part]
                chunks.append(self.ddpm(noise[part], part_labels, guidance, generator) if method == "ddpm"
                              else self.ddim(noise[part], steps, 0.0, part_labels, guidance, generator))
        finally:
            self.train(was_training)
        return self.from_training_range(torch.cat(chunks))
