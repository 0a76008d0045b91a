"""A VAE's report: reconstruction and latent losses, negative ELBO in nats, active units."""

from __future__ import annotations

import torch
import torch.nn.functional as F

ACTIVE_UNIT_VARIANCE = 0.01  # a coding is active when its posterior mean varies more than this


@torch.no_grad()
def vae_report(model, images: torch.Tensor, batch_size: int = 2500, seed: int = 0) -> dict[str, float]:
    """Per-image averages over `images` (floats in [0, 1]), with one sampled coding per image.

    reconstruction: mean binary cross-entropy per pixel; latent: the book's latent loss (KL / pixels);
    negative_elbo_nats: summed BCE over pixels + KL, per image; active_units: codings whose posterior
    mean has variance > 0.01 across the images.
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    bce_sum = kl_sum = 0.0
    means = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        mean, log_var = model.encode(x)
        noise = torch.randn(mean.shape, generator=generator).to(mean.device)
        logits = model.decode_logits(mean + torch.exp(0.5 * log_var) * noise)
        bce_sum += F.binary_cross_entropy_with_logits(logits, x.reshape(len(x), -1), reduction="sum").item()
        kl_sum += (-0.5 * torch.sum(1 + log_var - log_var.exp() - mean.square())).item()
        means.append(mean)
    model.train(was_training)
    pixels = images[0].numel()
    count = len(images)
    variances = torch.cat(means).var(dim=0)
    return {
        "reconstruction": bce_sum / count / pixels,
        "latent": kl_sum / count / pixels,
        "negative_elbo_nats": (bce_sum + kl_sum) / count,
        "active_units": int((variances > ACTIVE_UNIT_VARIANCE).sum()),
        "coding_size": int(variances.numel()),
    }
