"""A folder of images (PNG, JPEG, BMP, WebP), decoded with Pillow into (N, C, H, W) uint8.

Files are found recursively, in sorted path order; hidden files and folders are skipped and
files of other kinds ignored. When every image lies in a first-level subfolder and there are
at least two of them, the subfolder names are the classes (sorted). data.channels picks
grayscale (1) or RGB (3); 0 keeps grayscale when every image is grayscale, else RGB.
data.image_size [H, W] (or [S]) resizes each image to cover H x W, keeping its aspect ratio,
and crops its centre; without it every image must have the same size.

Every file's header is checked (Pillow's verify) before any is decoded; memory_map=True then
returns `ImageFiles`, which decodes only the images asked for, exactly as the eager path does.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from aegan.data.arrays import row_indices
from aegan.data.source import SourceData, class_indices
from aegan.errors import AeganError

if TYPE_CHECKING:
    from aegan.config import DataConfig

EXTENSIONS = (".bmp", ".jpeg", ".jpg", ".png", ".webp")
GRAYSCALE_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N"}
WIDE_GRAYSCALE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}  # 16 bits a pixel: kept as the high byte
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, Image.DecompressionBombError)


def unreadable(file: Path, error: Exception) -> AeganError:
    reason = "cannot identify image file" if isinstance(error, UnidentifiedImageError) else str(error)
    reason = " ".join(reason.split()) or type(error).__name__
    return AeganError(f"{file} is not a readable image ({reason}): remove it or replace it")


def find_images(folder: Path) -> list[str]:
    """The image files under `folder` as relative POSIX paths, sorted by their path parts."""
    found = []
    for root, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in EXTENSIONS:
                found.append(Path(root, name).relative_to(folder))
    return [path.as_posix() for path in sorted(found, key=lambda path: path.parts)]


def folder_labels(paths: list[str]) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """Labels from first-level subfolders when every image is in one and there are >= 2."""
    parts = [path.split("/") for path in paths]
    if any(len(part) < 2 for part in parts) or len({part[0] for part in parts}) < 2:
        return None, ()
    return class_indices([part[0] for part in parts])


def target_size(image_size: tuple[int, ...]) -> tuple[int, int] | None:
    """data.image_size as (height, width), or None to keep the files' own size."""
    if not image_size:
        return None
    return (image_size[0], image_size[0]) if len(image_size) == 1 else (image_size[0], image_size[1])


def _scan(folder: Path, paths: list[str]) -> list[tuple[tuple[int, int], str]]:
    """((width, height), mode) of every file, from its header; verify() catches broken files."""
    headers = []
    for path in paths:
        file = folder / path
        try:
            with Image.open(file) as image:
                headers.append((image.size, image.mode))
                image.verify()
        except DECODE_ERRORS as error:
            raise unreadable(file, error) from None
    return headers


def _convert(image: Image.Image, channels: int) -> Image.Image:
    """`image` as mode L (channels 1) or RGB (channels 3); 16-bit grayscale keeps its high byte."""
    if image.mode in WIDE_GRAYSCALE_MODES:
        wide = np.asarray(image).astype(np.int64)
        image = Image.fromarray((np.clip(wide, 0, 65535) >> 8).astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image.convert("L" if channels == 1 else "RGB")


def _cover_and_crop(image: Image.Image, height: int, width: int) -> Image.Image:
    """`image` resized to cover height x width, keeping its aspect ratio, and centre-cropped."""
    if image.size == (width, height):
        return image
    scale = max(width / image.width, height / image.height)
    new_width = max(width, round(image.width * scale))
    new_height = max(height, round(image.height * scale))
    image = image.resize((new_width, new_height), Image.Resampling.LANCZOS)
    left, top = (new_width - width) // 2, (new_height - height) // 2
    return image.crop((left, top, left + width, top + height))


def decode_image(file: Path, channels: int, height: int, width: int, resize: bool) -> np.ndarray:
    """One image file as uint8 (channels, height, width)."""
    try:
        with Image.open(file) as image:
            image.load()
            converted = _convert(image, channels)
        if resize:
            converted = _cover_and_crop(converted, height, width)
        array = np.asarray(converted, dtype=np.uint8)
    except DECODE_ERRORS as error:
        raise unreadable(file, error) from None
    if array.shape[:2] != (height, width):
        raise AeganError(f"{file} is {array.shape[1]}x{array.shape[0]} pixels now, expected {width}x{height}: "
                         "it changed while being read; read the folder again")
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


class ImageFiles:
    """The images of a folder, decoded when asked for: len, .shape (N, C, H, W), .dtype uint8,
    and indexing by an int array or a slice gives those images as a uint8 array."""

    def __init__(self, folder: Path, paths: list[str], channels: int, height: int, width: int, resize: bool):
        self.folder = Path(folder)
        self.paths = tuple(paths)
        self.channels, self.height, self.width, self.resize = channels, height, width, resize
        self.shape = (len(self.paths), channels, height, width)
        self.dtype = np.dtype(np.uint8)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self[np.array([index])][0]
        rows = row_indices(index, len(self))
        out = np.empty((len(rows), *self.shape[1:]), dtype=np.uint8)
        for position, row in enumerate(rows):
            out[position] = decode_image(self.folder / self.paths[row], self.channels, self.height,
                                         self.width, self.resize)
        return out


def read(path: Path, config: DataConfig, memory_map: bool = False) -> SourceData:
    """The images under the folder `path`; see the module's docstring."""
    folder = Path(path)
    if not folder.is_dir():
        raise AeganError(f"{folder} is not a folder: give a folder of images (or a file with data.format set)")
    paths = find_images(folder)
    if not paths:
        raise AeganError(f"{folder} holds no images (looked for {', '.join(EXTENSIONS)} files, in any letter "
                         "case, in it and its subfolders; hidden ones skipped): put images there or point "
                         "data.path at the folder that holds them")
    headers = _scan(folder, paths)
    channels = config.channels or (1 if all(mode in GRAYSCALE_MODES for _, mode in headers) else 3)
    size = target_size(config.image_size)
    if size is None:
        (first_width, first_height), _ = headers[0]
        for path, ((width, height), _) in zip(paths, headers):
            if (width, height) != (first_width, first_height):
                raise AeganError(
                    f"{folder / paths[0]} is {first_width}x{first_height} pixels but {folder / path} is "
                    f"{width}x{height}: images of different sizes need a common size; resize and centre-crop "
                    f"them with --set data.image_size=[{first_height},{first_width}] (height, width)")
        size = (first_height, first_width)
    images = ImageFiles(folder, paths, channels, size[0], size[1], resize=bool(config.image_size))
    samples = images if memory_map else images[:]
    labels, class_names = folder_labels(paths)
    return SourceData(samples=samples, layout="image", format="image_folder", labels=labels,
                      class_names=class_names, paths=tuple(paths))
