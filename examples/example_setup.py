"""What every family example shares: its three options and the tiny data set of --tiny."""

import argparse
from pathlib import Path

import numpy as np


def tiny_data(folder: Path) -> Path:
    """scikit-learn's 1,797 scanned handwritten digits (8x8, 10 classes) as uint8 images with labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    path = folder / "digits.npz"
    np.savez(path, images=(digits.images * 16).clip(0, 255).astype(np.uint8), labels=digits.target)
    return path


def example_arguments(doc: str, name: str) -> tuple[Path, Path | None, int | None]:
    """Parse --epochs, --out and --tiny; return the output folder (made), the data (None:
    Fashion-MNIST) and the epochs (None: the preset's)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--epochs", type=int, help="training epochs (default: the preset's; 1 with --tiny)")
    parser.add_argument("--out", default=f"runs/examples/{name}", help="output folder")
    parser.add_argument("--tiny", action="store_true", help="scikit-learn's 8x8 digits instead of Fashion-MNIST")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = tiny_data(out) if args.tiny else None
    return out, data, args.epochs or (1 if args.tiny else None)
