"""Make a folder of 32x32 RGB photographs from the real colour photos that Python packages ship.

    .venv/bin/pip install scikit-image          # once: its bundled photos (optional, script-only need)
    .venv/bin/python scripts/photo_folder.py OUT [--train 800] [--test 200] [--seed 0]
    .venv/bin/aegan data OUT                    # 3x32x32 uint8 images, 10 classes

The photos (ten, one class each, the subfolder named after the photo):
scikit-learn's sample images (china.jpg, flower.jpg; what `sklearn.datasets.load_sample_images()`
returns) and eight colour photos bundled with scikit-image (astronaut.png, chelsea.png, coffee.png,
hubble_deep_field.jpg, ihc.png, motorcycle_left.png, retina.jpg, rocket.jpg). All are read as files
from the installed packages with Pillow; nothing is downloaded. scikit-image is not a dependency
of aegan: install it into the virtual environment for this script only.

Each crop is a random square whose side is drawn uniformly between 10% of the photo's shorter
side (at least 32 px) and the smaller of 40% of its shorter side and the width of the held-out
strip, at a random position, resized to 32x32 with Pillow's LANCZOS filter and saved as PNG.
To keep train and test apart, the right 25% of every photo is held out: test crops come only from
that vertical strip, training crops only from the left 75%, so no test pixel is in a training
image. Crop sizes follow the same distribution in both. The layout is OUT/train/<photo>/NNNN.png
and OUT/test/<photo>/NNNN.png; aegan cuts its validation split from train by fraction.
Everything is drawn from one seeded generator per photo: the same arguments give the same files.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
                  "motorcycle_left.png", "retina.jpg", "rocket.jpg")
SIZE = 32
HELD_OUT = 0.25  # the right quarter of each photo: test crops only
MIN_SHARE, MAX_SHARE = 0.10, 0.40  # crop side as a share of the photo's shorter side


def photo_files() -> dict[str, Path]:
    """{class name: photo file} for the ten photos, from the installed packages' data folders."""
    try:
        skimage_data = resources.files("skimage.data")
    except ModuleNotFoundError:
        sys.exit("scikit-image is not installed; its bundled photos are needed: "
                 ".venv/bin/pip install scikit-image")
    sklearn_images = resources.files("sklearn.datasets.images")
    files = {}
    for folder, names in ((sklearn_images, SKLEARN_PHOTOS), (skimage_data, SKIMAGE_PHOTOS)):
        for name in names:
            path = Path(str(folder.joinpath(name)))
            if not path.is_file():
                sys.exit(f"{path} is missing: reinstall the package that ships it")
            files[name.split(".")[0]] = path
    return dict(sorted(files.items()))


def crop_sides(width: int, height: int) -> tuple[int, int]:
    """The smallest and largest crop side for a photo of this size."""
    strip = width - round(width * (1 - HELD_OUT))
    low = max(SIZE, round(MIN_SHARE * min(width, height)))
    high = min(round(MAX_SHARE * min(width, height)), strip, height)
    return low, max(low, high)


def crops(photo: Image.Image, count: int, left: int, right: int, sides: tuple[int, int],
          rng: np.random.Generator) -> list[Image.Image]:
    """`count` random square crops lying within columns [left, right), resized to SIZE x SIZE."""
    out = []
    for _ in range(count):
        side = int(rng.integers(sides[0], sides[1] + 1))
        x = int(rng.integers(left, right - side + 1))
        y = int(rng.integers(0, photo.height - side + 1))
        out.append(photo.crop((x, y, x + side, y + side)).resize((SIZE, SIZE), Image.Resampling.LANCZOS))
    return out


def build(out: Path, train: int, test: int, seed: int) -> list[dict]:
    """Write the folder; return one description per photo."""
    if out.exists() and any(out.iterdir()):
        sys.exit(f"{out} exists and is not empty: give a new folder (or remove it)")
    described = []
    for index, (name, path) in enumerate(photo_files().items()):
        with Image.open(path) as image:
            photo = image.convert("RGB")
        width, height = photo.size
        boundary = round(width * (1 - HELD_OUT))
        sides = crop_sides(width, height)
        rng = np.random.default_rng([seed, index])
        for split, count, (left, right) in (("train", train, (0, boundary)), ("test", test, (boundary, width))):
            folder = out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for number, crop in enumerate(crops(photo, count, left, right, sides, rng)):
                crop.save(folder / f"{number:04d}.png")
        package = "scikit-learn" if path.name in SKLEARN_PHOTOS else "scikit-image"
        described.append({"class": name, "file": path.name, "package": package,
                          "width": width, "height": height, "boundary": boundary, "sides": sides,
                          "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:12]})
    return described


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder to create (train/ and test/ inside)")
    parser.add_argument("--train", type=int, default=800, help="training crops per photo (default 800)")
    parser.add_argument("--test", type=int, default=200, help="test crops per photo (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for item in build(args.out, args.train, args.test, args.seed):
        print(f"{item['class']:18s} {item['file']} ({item['package']}, {item['width']}x{item['height']}): "
              f"train crops from x < {item['boundary']}, test crops from x >= {item['boundary']}, "
              f"sides {item['sides'][0]}-{item['sides'][1]} px")
    print(f"wrote {args.out}: {args.train} training and {args.test} test crops per photo, 32x32 RGB PNG")


if __name__ == "__main__":
    main()
