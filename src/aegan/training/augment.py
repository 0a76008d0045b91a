"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) of what the discriminator sees.

The same random transformations are applied to reals and to fakes, in both phases, and the
generator's gradients flow through them; so the discriminator cannot memorise the few reals it
sees and the generator is not taught to make augmented images. `training.augment` lists the
policies:
- `translation`: shift each image by up to 1/8 of its size (zero padding), per sample;
- `cutout`: zero a square of half the image's size at a random place, per sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aegan import shards

AUGMENTATIONS = ("translation", "cutout")


def translate(images: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Each image shifted by a random whole number of pixels, up to `ratio` of each side."""
    n, _, height, width = images.shape
    max_y, max_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    shift_y = shards.rows(lambda rows: torch.randint(-max_y, max_y + 1, (rows, 1, 1), device=images.device), n)
    shift_x = shards.rows(lambda rows: torch.randint(-max_x, max_x + 1, (rows, 1, 1), device=images.device), n)
    rows = torch.arange(height, device=images.device).view(1, height, 1) - shift_y  # where each output row reads
    cols = torch.arange(width, device=images.device).view(1, 1, width) - shift_x
    padded = F.pad(images, (1, 1, 1, 1))  # indices past an edge are clamped onto this zero border
    rows = (rows.clamp(-1, height) + 1).expand(n, height, width)
    cols = (cols.clamp(-1, width) + 1).expand(n, height, width)
    flat = (rows * (width + 2) + cols).flatten(1).unsqueeze(1).expand(-1, images.shape[1], -1)
    return padded.flatten(2).gather(2, flat).view_as(images)


def cutout(images: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Each image with a square of `ratio` of its sides set to zero at a random place."""
    n, _, height, width = images.shape
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    top = shards.rows(lambda rows: torch.randint(0, height + 1 - size_y, (rows, 1, 1), device=images.device), n)
    left = shards.rows(lambda rows: torch.randint(0, width + 1 - size_x, (rows, 1, 1), device=images.device), n)
    rows = torch.arange(height, device=images.device).view(1, height, 1)
    cols = torch.arange(width, device=images.device).view(1, 1, width)
    hole = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return images * (~hole).unsqueeze(1).to(images.dtype)


def diff_augment(images: torch.Tensor, policies: tuple[str, ...]) -> torch.Tensor:
    """`images` (N, C, H, W) with each policy applied in turn."""
    for policy in policies:
        if policy == "translation":
            images = translate(images)
        elif policy == "cutout":
            images = cutout(images)
        else:
            raise ValueError(f"augmentation {policy!r}: expected one of {', '.join(AUGMENTATIONS)}")
    return images
