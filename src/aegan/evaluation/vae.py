"""A VAE's report: reconstruction and latent losses, negative ELBO in nats, active units."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ACTIVE_UNIT_VARIANCE = 0.01  # a coding is active when its posterior mean varies more than this


@torch.no_grad()
def vae_report(model, images: torch.Tensor, batch_size: int = 2500, seed: int = 0) -> dict[str, float]:
    """Per-sample averages over `images` (model inputs, (N, *shape)), with one sampled coding each.

    reconstruction: the model's reconstruction loss per value (binary cross-entropy; squared error
    for a VAE trained with MSE); latent: the book's latent loss (KL / values); negative_elbo_nats:
    the summed negative log-likelihood over values + KL, per sample (Bernoulli for BCE, a
    unit-variance Gaussian for MSE); active_units: codings whose posterior mean has variance > 0.01
    across the samples.
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    bernoulli = getattr(model, "sigmoid_output", True)
    reconstruction_sum = kl_sum = 0.0
    means = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        mean, log_var = model.encode(x)
        noise = torch.randn(mean.shape, generator=generator).to(mean.device)
        outputs = model.decode_logits(mean + torch.exp(0.5 * log_var) * noise)
        target = x.reshape(len(x), -1)
        if bernoulli:
            reconstruction_sum += F.binary_cross_entropy_with_logits(outputs, target, reduction="sum").item()
        else:
            reconstruction_sum += F.mse_loss(outputs, target, reduction="sum").item()
        kl_sum += (-0.5 * torch.sum(1 + log_var - log_var.exp() - mean.square())).item()
        means.append(mean)
    model.train(was_training)
    values = images[0].numel()
    count = len(images)
    variances = torch.cat(means).var(dim=0)
    likelihood_sum = (reconstruction_sum if bernoulli  # else a unit-variance Gaussian's negative log-likelihood
                      else 0.5 * reconstruction_sum + 0.5 * math.log(2 * math.pi) * values * count)
    return {
        "reconstruction": reconstruction_sum / count / values,
        "latent": kl_sum / count / values,
        "negative_elbo_nats": (likelihood_sum + kl_sum) / count,
        "active_units": int((variances > ACTIVE_UNIT_VARIANCE).sum()),
        "coding_size": int(variances.numel()),
    }
