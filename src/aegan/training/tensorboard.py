"""TensorBoard event files for a run (`training.tensorboard = true`), under RUN/tensorboard/.

Every epoch: each metric of metrics.jsonl as a scalar (the epoch as step); for image data a grid
of images (an autoencoder's fixed validation images above their reconstructions, a GAN's samples
of its fixed grid codings); histograms (an autoencoder's codings of a fixed validation batch, a
GAN discriminator's logits on fixed reals and on the grid's fakes). At the end, the embedding
projector: an autoencoder's codings of up to PROJECTED validation samples, a GAN discriminator's
penultimate features of as many reals and fakes, with class names and, for images, a sprite.

Everything here runs in evaluation mode, without gradients and with the random generators
forked, so a run that writes these files ends with the same weights as one that does not.
This module is imported only when the option is on; it needs the `tensorboard` package.
"""

from __future__ import annotations

import shutil
import sys
import types
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

from aegan.data.batches import Batches
from aegan.errors import AeganError

FOLDER = "tensorboard"
SHOWN = 8  # validation images drawn above their reconstructions
HISTOGRAM_BATCH = 128  # samples whose codings (or logits) make the histograms
PROJECTED = 1000  # samples (of each kind) in the embedding projector
PROJECTOR_SEED = 0  # of the codings of a GAN projector's fakes
SPRITE_SIDE = 64  # larger images are shrunk to this many pixels a side in the projector's sprite


def require_tensorboard():
    """torch's SummaryWriter, or one line saying how to install what it needs.

    TensorBoard's writers only write local files, which its own stand-in for TensorFlow does;
    unless TensorFlow is loaded already, they are told to use it (tensorboard's `notf` switch),
    so that a machine with TensorFlow installed does not load all of it (seconds, and log lines)."""
    if "tensorflow" not in sys.modules:
        sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise AeganError("training.tensorboard=true needs the tensorboard package: "
                         "pip install 'aegan[tensorboard]'") from None
    return SummaryWriter


class TensorBoardLog:
    """Writes one run's TensorBoard events: `epoch()` after each epoch, `finish()` after the last.

    `data` is the validation split for an autoencoder and the training split for a GAN (its reals);
    a GAN also passes its fixed grid codings, their labels and the grid's (rows, columns).
    Each start (a resumed run's too) appends a new event file whose first event hides the steps
    after `start_epoch` that an interrupted run may have written, as metrics.jsonl is cut back.
    """

    def __init__(self, run_dir: Path, model, data: Batches | torch.Tensor, start_epoch: int = 0,
                 grid_codings: torch.Tensor | None = None, grid_labels: torch.Tensor | None = None,
                 grid_shape: tuple[int, int] | None = None):
        summary_writer = require_tensorboard()
        self.folder = Path(run_dir) / FOLDER
        self.writer = summary_writer(str(self.folder), purge_step=start_epoch + 1)
        self.model = model
        self.gan = type(model).training_loop == "gan"
        self.spec = data.spec if isinstance(data, Batches) else None
        self.images = self.spec.is_image if self.spec is not None else len(model.config.input_shape) == 3
        self.grid_codings, self.grid_labels, self.grid_shape = grid_codings, grid_labels, grid_shape
        self.data = data
        self.fixed, self.fixed_labels = first_samples(data, HISTOGRAM_BATCH)
        self.shown = self.fixed[shown_indices(self.fixed_labels, SHOWN, len(self.fixed))]

    def epoch(self, epoch: int, record: dict) -> None:
        """The epoch's metrics (`record`, as metrics.jsonl has it), images and histograms."""
        for name, value in record.items():
            if name != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(name, value, epoch)
        with evaluating(self.model):
            if self.gan:
                self._gan_epoch(epoch)
            else:
                self._autoencoder_epoch(epoch)
        self.writer.flush()

    def _autoencoder_epoch(self, epoch: int) -> None:
        codings = self.model.encode(self.fixed)
        if isinstance(codings, tuple):  # a VAE: the means and log-variances of its codings
            codings, log_variances = codings
            self.writer.add_histogram("codings_log_variance", log_variances, epoch)
        self.writer.add_histogram("codings", codings, epoch)
        if self.images:
            reconstructions = self.model(self.shown).reshape(self.shown.shape)
            rows = torch.stack([self.display(self.shown), self.display(reconstructions)])
            self.writer.add_image("reconstructions", tile(rows), epoch)

    def _gan_epoch(self, epoch: int) -> None:
        model = self.model
        fakes = model.generate(self.grid_codings, self.grid_labels)
        reals = model.to_training_range(self.fixed)
        self.writer.add_histogram("discriminator_logits/real", model.discriminate(reals, self.class_input(
            self.fixed_labels)), epoch)
        self.writer.add_histogram("discriminator_logits/fake", model.discriminate(fakes, self.grid_labels), epoch)
        if self.images:
            samples = self.display(model.decode(self.grid_codings, self.grid_labels))
            self.writer.add_image("samples", tile(samples.reshape(*self.grid_shape, *samples.shape[1:])), epoch)

    def finish(self, epoch: int) -> None:
        """The embedding projector of the trained model (in RUN/tensorboard/<epoch>/codings/)."""
        shutil.rmtree(self.folder / f"{epoch:05d}", ignore_errors=True)  # from a run stopped before its checkpoint
        if self.gan and getattr(self.model.config, "pack", 1) > 1:
            return  # a packing discriminator's features describe groups of samples, not samples
        samples, labels = first_samples(self.data, PROJECTED)
        with evaluating(self.model):
            if self.gan:
                vectors, metadata, header, pictures = self._gan_projection(samples, labels)
            else:
                vectors = torch.cat([codings_of(self.model, chunk) for chunk in samples.split(HISTOGRAM_BATCH)])
                metadata, header = self.class_names(labels), None
                pictures = self.display(samples) if self.images else None
        if pictures is not None and max(pictures.shape[-2:]) > SPRITE_SIDE:
            pictures = F.interpolate(pictures, scale_factor=SPRITE_SIDE / max(pictures.shape[-2:]), mode="area")
        self.writer.add_embedding(vectors.flatten(1).cpu(), metadata=metadata, metadata_header=header,
                                  label_img=None if pictures is None else pictures.cpu(), global_step=epoch,
                                  tag="codings")
        self.writer.flush()

    def _gan_projection(self, reals: torch.Tensor, labels: torch.Tensor | None):
        """The discriminator's penultimate features (the input of its last layer) of `reals` and as
        many fakes, from codings of a generator of its own (the run's generators stay untouched)."""
        model, device, count = self.model, reals.device, len(reals)
        generator = torch.Generator().manual_seed(PROJECTOR_SEED)
        codings = torch.randn(count, model.config.coding_size, generator=generator).to(device)
        fake_labels = model.random_labels(count, generator)
        fake_labels = None if fake_labels is None else fake_labels.to(device)
        fakes = model.generate(codings, fake_labels)
        features = []
        hook = model.discriminator.output.register_forward_hook(
            lambda module, inputs, output: features.append(inputs[0]))
        real_labels = self.class_input(labels)
        try:
            for start in range(0, count, HISTOGRAM_BATCH):
                chunk = slice(start, start + HISTOGRAM_BATCH)
                model.discriminate(model.to_training_range(reals[chunk]),
                                   None if real_labels is None else real_labels[chunk])
            for start in range(0, count, HISTOGRAM_BATCH):
                chunk = slice(start, start + HISTOGRAM_BATCH)
                model.discriminate(fakes[chunk], None if fake_labels is None else fake_labels[chunk])
        finally:
            hook.remove()
        metadata, header = ["real"] * count + ["generated"] * count, None
        if labels is not None:  # an unconditional GAN's fakes have no class
            fake_classes = self.class_names(fake_labels) if fake_labels is not None else ["-"] * count
            classes = self.class_names(labels) + fake_classes
            metadata, header = [list(row) for row in zip(metadata, classes)], ["source", "class"]
        pictures = None
        if self.images:
            pictures = torch.cat([self.display(reals), self.display(model.decode(codings, fake_labels))])
        return torch.cat(features), metadata, header, pictures

    def class_input(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        """Labels as the model takes them: only a conditional GAN takes any."""
        return labels if self.gan and self.model.config.num_classes else None

    def class_names(self, labels: torch.Tensor | None) -> list[str] | None:
        """Each label as its class name (as the data names it), or None without labels."""
        if labels is None:
            return None
        names = self.spec.class_names if self.spec is not None else ()
        return [names[label] if label < len(names) else str(label) for label in labels.tolist()]

    def display(self, values: torch.Tensor) -> torch.Tensor:
        """Model-space images as [0, 1] pixels: uint8 data as scaled, other data from its range."""
        if self.spec is None:
            return values.clamp(0, 1)
        values = self.spec.from_model(values)
        if self.spec.scaling != "divide_255":
            low, high = self.spec.value_range
            values = (values - low) / max(high - low, 1e-12)
        return values.clamp(0, 1)

    def close(self) -> None:
        self.writer.close()


@contextmanager
def evaluating(model):
    """Evaluation mode, no gradients and forked random generators for the span of a `with`."""
    device = next(model.parameters()).device
    was_training = model.training
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
        model.eval()
        try:
            yield
        finally:
            model.train(was_training)


def codings_of(model, samples: torch.Tensor) -> torch.Tensor:
    """An autoencoder's codings of `samples` (a VAE's: the means)."""
    codings = model.encode(samples)
    return codings[0] if isinstance(codings, tuple) else codings


def first_samples(data: Batches | torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The first `count` samples of a split in the model's scale, and their labels (None without)."""
    if not isinstance(data, Batches):
        return data[:count], None
    samples = next(data.in_order(count))
    return samples, None if data.labels is None else data.labels[:len(samples)]


def shown_indices(labels: torch.Tensor | None, count: int, available: int) -> torch.Tensor:
    """Indices of `count` samples to draw: one of each class in turn when there are labels."""
    if labels is None:
        return torch.arange(min(count, available))
    queues = [torch.nonzero(labels == label).flatten().tolist() for label in torch.unique(labels).tolist()]
    chosen: list[int] = []
    while len(chosen) < min(count, available):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return torch.tensor(chosen, dtype=torch.long)


def tile(images: torch.Tensor, padding: int = 1) -> torch.Tensor:
    """(rows, columns, C, H, W) images in [0, 1] as one (C, rows*(H+p)+p, columns*(W+p)+p) picture
    with white lines of `padding` pixels between them."""
    rows, columns, channels, height, width = images.shape
    padded = F.pad(images, (padding, 0, padding, 0), value=1.0)
    picture = padded.permute(2, 0, 3, 1, 4).reshape(channels, rows * (height + padding), columns * (width + padding))
    return F.pad(picture, (0, padding, 0, padding), value=1.0).cpu()
