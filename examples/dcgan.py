"""DCGAN (the book's convolutional GAN): samples, interpolations, sample quality.

    .venv/bin/python examples/dcgan.py --epochs 1          # Fashion-MNIST: about 3.5 minutes an epoch on 2 cores
    .venv/bin/python examples/dcgan.py                     # the preset's 10 epochs
    .venv/bin/python examples/dcgan.py --tiny              # 8x8 digits, 1 epoch: a few seconds

Writes into --out: run/ (the run folder, with a grid per epoch in run/samples/, their animation
run/samples/progress.gif and run/evaluation.json), samples.png and interpolations.png.
"""

import argparse
from pathlib import Path

import numpy as np

import aegan


def tiny_data(folder: Path) -> Path:
    """scikit-learn's 1,797 scanned handwritten digits (8x8, 10 classes) as uint8 images with labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    path = folder / "digits.npz"
    np.savez(path, images=(digits.images * 16).clip(0, 255).astype(np.uint8), labels=digits.target)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, help="training epochs (default: the preset's; 1 with --tiny)")
    parser.add_argument("--out", default="runs/examples/dcgan", help="output folder")
    parser.add_argument("--tiny", action="store_true", help="scikit-learn's 8x8 digits instead of Fashion-MNIST")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = tiny_data(out) if args.tiny else None  # None: Fashion-MNIST
    epochs = args.epochs or (1 if args.tiny else None)

    run = aegan.train("dcgan", data=data, epochs=epochs, out=out / "run")
    last = run.metrics()[-1]
    print("discriminator loss", last["d_loss"], "generator loss", last["g_loss"])

    aegan.plot_samples(run, out / "samples.png", n=24, seed=1)
    aegan.plot_interpolations(run, out / "interpolations.png")

    report = aegan.evaluate(run, n=2000)  # written to run/evaluation.json too
    print(f"FID {report.get('fid')} (floor {report.get('fid_floor')}), classes covered {report.get('classes_covered')}")


if __name__ == "__main__":
    main()
