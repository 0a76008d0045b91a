"""An autoencoder aimed at features: codings that classifiers and nearest neighbours can use.

A convolutional encoder (three blocks of 3x3 convolution, optional batch norm, ReLU and 2x2
max pooling) ends in a dense bottleneck of `coding_size` codings; a dense layer and three
stride-2 transposed convolutions decode them. While training, three options make the codings
describe what an image shows rather than where its pixels are:

- `augment`: each batch is seen through random views, `flip` (left-right, half the images) and
  `translation` (shifts of up to 1/8 of each side); the decoder reconstructs the view it was given.
- `mask_ratio`: that share of `mask_patch` x `mask_patch` squares is hidden from the encoder
  (set to zero), and the decoder must still reconstruct the whole view (the denoising
  autoencoder of the chapter, with masking in place of pixel noise).
- `invariance_weight`: two views of every image are encoded, and their codings are pulled
  together: the mean squared difference of the two views' codings, each dimension divided by its
  spread over the batch (so shrinking the codings cannot fake agreement; reconstruction keeps them
  from collapsing).

Out of training (encode, evaluation, validation loss) the images are used as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aegan import shards
from aegan.errors import AeganError
from aegan.models.autoencoders import (
    AUTOENCODER_CAPABILITIES,
    check_input_shape,
    check_reconstruction_loss,
    require_image_layout,
    require_resolved,
    with_data_shape_and_loss,
)
from aegan.models.conv_autoencoder import decoder_paddings, pooled_sizes
from aegan.training.augment import translate

VIEWS = ("flip", "translation")
MIN_SIDE = 8  # three 2x2 poolings leave at least one pixel


@dataclass(frozen=True)
class FeatureAutoencoderConfig:
    kind: str = "feature_ae"
    input_shape: tuple[int, ...] = ()  # () = the data's (channels, height, width) (for_data)
    filters: tuple[int, ...] = (32, 64, 128)  # the three convolution blocks
    convolutions_per_block: int = 1  # 3x3 convolutions (each with its batch norm and ReLU) before each pooling
    coding_size: int = 30
    hidden_units: int = 0  # > 0: a dense layer of this width (with batch norm if asked, ReLU) on each side of the codings
    batch_norm: bool = True  # after each convolution (encoder and decoder)
    standardize_codings: bool = False  # a batch norm without learned scale on the codings: mean 0, variance 1 each
    spherical_codings: bool = False  # codings scaled to length sqrt(coding_size) (after standardising, if asked):
    # only their direction carries meaning, so nearest neighbours compare directions, as cosine similarity does
    coding_noise: float = 0.0  # std of Gaussian noise added to the codings before decoding, while training
    augment: tuple[str, ...] = ()  # views while training: "flip", "translation"
    mask_ratio: float = 0.0  # share of mask_patch-sized squares hidden from the encoder while training
    mask_patch: int = 4
    invariance_weight: float = 0.0  # > 0: encode two views and pull their codings together
    agreement: str = "spread"  # how: "spread" (squared difference in units of each dimension's spread) or
    # "contrastive" (each view must pick its partner among the batch's other views, cosine similarity)
    temperature: float = 0.5  # contrastive: the softmax temperature
    projection: int = 0  # > 0: the agreement is measured after a head (dense projection, ReLU, dense projection)
    # on the codings, as in SimCLR, so the codings need not be fully invariant themselves; 0: on the codings
    target: str = "view"  # what the decoder reconstructs: the "view" it was given, or the "original" image
    # auto: binary_crossentropy (sigmoid outputs) for data in [0, 1], mse (linear outputs) otherwise
    reconstruction_loss: str = "auto"

    def __post_init__(self):
        check_input_shape(self, dims=(3,))
        if len(self.input_shape) == 3 and min(self.input_shape[1:]) < MIN_SIDE:
            raise AeganError(f"feature_ae on {self.input_shape[1]}x{self.input_shape[2]} images: its three 2x2 "
                             f"poolings need images of at least {MIN_SIDE}x{MIN_SIDE}; resize them (data.image_size) "
                             "or use a dense preset such as stacked_ae")
        if len(self.filters) != 3 or min(self.filters) <= 0:
            raise AeganError(f"model.filters={list(self.filters)}: expected three positive filter counts")
        if self.convolutions_per_block < 1:
            raise AeganError(f"model.convolutions_per_block={self.convolutions_per_block}: expected 1 or more "
                             "3x3 convolutions before each pooling, e.g. 2")
        if self.hidden_units < 0:
            raise AeganError(f"model.hidden_units={self.hidden_units}: expected 0 (none) or the width of the dense "
                             "layer between the convolutions and the codings, e.g. 256")
        if self.coding_size <= 0:
            raise AeganError(f"model.coding_size={self.coding_size}: expected a positive number of codings, e.g. 30")
        for view in self.augment:
            if view not in VIEWS:
                raise AeganError(f"model.augment={list(self.augment)}: {view!r} is not a view; expected any of "
                                 f"{', '.join(VIEWS)} (drop 'flip' for data whose meaning changes in a mirror)")
        if not 0 <= self.mask_ratio < 1 or self.mask_patch < 1:
            raise AeganError(f"model.mask_ratio={self.mask_ratio} / mask_patch={self.mask_patch}: expected a share "
                             "in [0, 1) (0.5 hides half the squares) and a square side of 1 pixel or more")
        if self.invariance_weight < 0:
            raise AeganError(f"model.invariance_weight={self.invariance_weight}: expected 0 (off) or more")
        if self.agreement not in ("spread", "contrastive") or self.target not in ("view", "original"):
            raise AeganError(f"model.agreement={self.agreement!r} / target={self.target!r}: expected 'spread' or "
                             "'contrastive', and 'view' or 'original'")
        if self.coding_noise < 0:
            raise AeganError(f"model.coding_noise={self.coding_noise}: expected 0 (off) or a standard deviation")
        if self.projection < 0:
            raise AeganError(f"model.projection={self.projection}: expected 0 (agreement on the codings) or the "
                             "width of the projection head, e.g. 128")
        if self.temperature <= 0:
            raise AeganError(f"model.temperature={self.temperature}: expected a positive number, e.g. 0.5")
        check_reconstruction_loss(self.reconstruction_loss)

    @property
    def resolved(self) -> bool:
        return len(self.input_shape) == 3 and self.reconstruction_loss != "auto"

    def for_data(self, spec) -> "FeatureAutoencoderConfig":
        """This config with the data's image shape and, unless set, its reconstruction loss."""
        require_image_layout("feature_ae", spec, "stacked_ae")
        return with_data_shape_and_loss(self, spec)


def flip(images: torch.Tensor) -> torch.Tensor:
    """Half the images (drawn per image) mirrored left to right."""
    mirrored = shards.rows(lambda n: torch.rand(n, 1, 1, 1, device=images.device) < 0.5, len(images))
    return torch.where(mirrored, images.flip(-1), images)


def mask_patches(images: torch.Tensor, ratio: float, patch: int) -> torch.Tensor:
    """`images` with each `patch` x `patch` square set to zero with probability `ratio`, per image."""
    n, _, height, width = images.shape
    grid = (-(-height // patch), -(-width // patch))
    hidden = shards.rows(lambda rows: torch.rand(rows, 1, *grid, device=images.device) < ratio, n)
    hidden = hidden.repeat_interleave(patch, dim=2).repeat_interleave(patch, dim=3)[:, :, :height, :width]
    return images.masked_fill(hidden, 0.0)


def invariance(first: torch.Tensor, second: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Mean squared difference of two views' codings, each dimension in units of its spread over
    both views (0: the views agree; 2: as unrelated as two random images). In a data-parallel
    step the spread is the global batch's, as in one process."""
    both = torch.cat([first, second])
    if shards.active():
        from aegan.training.distributed import global_spread

        spread = global_spread(both)
    else:
        spread = both.std(dim=0)
    return ((first - second) / (spread + eps)).pow(2).mean()


def contrastive(first: torch.Tensor, second: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (SimCLR): cross-entropy of finding each view's partner among the other 2N - 1 views,
    by cosine similarity over `temperature`."""
    both = F.normalize(torch.cat([first, second]), dim=1)
    similarity = both @ both.T / temperature
    similarity.fill_diagonal_(float("-inf"))
    n = len(first)
    partners = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(first.device)
    return F.cross_entropy(similarity, partners)


def _block(in_channels: int, out_channels: int, batch_norm: bool, transposed: dict | None = None) -> list[nn.Module]:
    conv = (nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, **transposed) if transposed is not None
            else nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batch_norm))
    return [conv, *([nn.BatchNorm2d(out_channels)] if batch_norm else []), nn.ReLU()]


class OnSphere(nn.Module):
    """Each row scaled to length sqrt(its width): coordinates of unit mean square, direction kept."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) * x.shape[1] ** 0.5


class FeatureAutoencoder(nn.Module):
    """(C, H, W) -> 3 x (conv, [BN], ReLU, pool) -> dense coding_size -> dense -> 3 x ConvT -> (C, H, W)."""

    capabilities = AUTOENCODER_CAPABILITIES
    training_loop = "autoencoder"
    evaluations = ("reconstruction", "representation")

    def __init__(self, config: FeatureAutoencoderConfig):
        super().__init__()
        require_resolved(config)
        self.config = config
        channels, height, width = config.input_shape
        heights, widths = pooled_sizes(height), pooled_sizes(width)
        f1, f2, f3 = config.filters
        self.grid_shape = (f3, heights[3], widths[3])
        grid = f3 * heights[3] * widths[3]
        bn, depth = config.batch_norm, config.convolutions_per_block
        stages = []
        for in_channels, out_channels in zip((channels, f1, f2), (f1, f2, f3)):
            stages += _block(in_channels, out_channels, bn)
            for _ in range(depth - 1):
                stages += _block(out_channels, out_channels, bn)
            stages.append(nn.MaxPool2d(2))
        hidden = config.hidden_units
        dense_in = ([nn.Linear(grid, hidden, bias=not bn), *([nn.BatchNorm1d(hidden)] if bn else []), nn.ReLU()]
                    if hidden else [])
        self.encoder = nn.Sequential(
            *stages, nn.Flatten(), *dense_in, nn.Linear(hidden or grid, config.coding_size),
            *([nn.BatchNorm1d(config.coding_size, affine=False)] if config.standardize_codings else []),
            *([OnSphere()] if config.spherical_codings else []))
        up = decoder_paddings(height, width)
        self.expand = nn.Sequential(*([nn.Linear(config.coding_size, hidden), nn.ReLU()] if hidden else []),
                                    nn.Linear(hidden or config.coding_size, grid), nn.ReLU())
        self.decoder = nn.Sequential(
            *_block(f3, f2, bn, {"padding": up[0][0], "output_padding": up[0][1]}),
            *_block(f2, f1, bn, {"padding": up[1][0], "output_padding": up[1][1]}),
            nn.ConvTranspose2d(f1, channels, 3, stride=2, padding=up[2][0], output_padding=up[2][1]))
        self.projection_head = (nn.Sequential(nn.Linear(config.coding_size, config.projection), nn.ReLU(),
                                              nn.Linear(config.projection, config.projection))
                                if config.projection and config.invariance_weight else None)
        self.sigmoid_output = config.reconstruction_loss == "binary_crossentropy"
        self.output_activation = "sigmoid" if self.sigmoid_output else "linear"

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codings (N, coding_size)."""
        return self.encoder(x.reshape(len(x), *self.config.input_shape))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.expand(z).view(len(z), *self.grid_shape)).flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decode_logits(z)
        if self.sigmoid_output:
            out = torch.sigmoid(out)
        return out.view(-1, *self.config.input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def view(self, x: torch.Tensor) -> torch.Tensor:
        """A random view of each image (model.augment), while training; the images otherwise."""
        if not self.training:
            return x
        for name in self.config.augment:
            x = flip(x) if name == "flip" else translate(x)
        return x

    def hide(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's input: the view with model.mask_ratio of its squares hidden, while training."""
        if not self.training or self.config.mask_ratio == 0:
            return x
        return mask_patches(x, self.config.mask_ratio, self.config.mask_patch)

    def reconstruction_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.reshape(len(target), -1)
        if self.sigmoid_output:
            return F.binary_cross_entropy_with_logits(logits, target)
        return F.mse_loss(logits, target)

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = x.reshape(len(x), *self.config.input_shape)
        first = self.view(x)
        codings = self.encode(self.hide(first))
        target = first if self.config.target == "view" else x
        noisy = codings
        if self.training and self.config.coding_noise:  # nearby codings must decode alike
            noisy = codings + self.config.coding_noise * shards.rows(
                lambda n: torch.randn(n, codings.shape[1], dtype=codings.dtype, device=codings.device), len(codings))
        reconstruction = self.reconstruction_loss(self.decode_logits(noisy), target)
        terms = {"loss": reconstruction, "reconstruction": reconstruction}
        if self.training and self.config.invariance_weight:
            other = self.encode(self.hide(self.view(x)))
            first_side = codings
            if self.projection_head is not None:
                first_side, other = self.projection_head(codings), self.projection_head(other)
            agreement = (invariance(first_side, other) if self.config.agreement == "spread"
                         else contrastive(first_side, other, self.config.temperature))
            terms["invariance"] = agreement
            terms["loss"] = reconstruction + self.config.invariance_weight * agreement
        return terms
