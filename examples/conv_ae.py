"""Convolutional autoencoder, trained as a denoiser: reconstructions, denoised images, a map of its codings.

    .venv/bin/python examples/conv_ae.py                   # Fashion-MNIST, the preset's 5 epochs
    .venv/bin/python examples/conv_ae.py --epochs 1        # a quick look
    .venv/bin/python examples/conv_ae.py --tiny            # 8x8 digits, 1 epoch: a few seconds

Gaussian noise (std 0.2) is added to its inputs while it trains (the conv_ae preset with
model.input_noise set: options compose). Writes into --out: run/ (the run folder),
reconstructions.png, denoising.png (originals, noisy inputs, denoised outputs) and codings-tsne.png.
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
    parser.add_argument("--out", default="runs/examples/conv_ae", help="output folder")
    parser.add_argument("--tiny", action="store_true", help="scikit-learn's 8x8 digits instead of Fashion-MNIST")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = tiny_data(out) if args.tiny else None  # None: Fashion-MNIST
    epochs = args.epochs or (1 if args.tiny else None)

    noise = {"model.input_noise": "gaussian", "model.noise_level": 0.2}
    run = aegan.train("conv_ae", data=data, epochs=epochs, out=out / "run", overrides=noise)
    print("validation loss", run.metrics()[-1]["val_loss"])

    aegan.plot_reconstructions(run, out / "reconstructions.png", n=8)
    aegan.plot_reconstructions(run, out / "denoising.png", n=8, noise=True)
    codings, labels = aegan.encode(run, split="valid")  # the flattened feature maps, e.g. (N, 576)
    aegan.plot_codings(codings, labels, out / "codings-tsne.png", max_points=2000,
                       class_names=run.spec.class_names or None)
    print(f"{codings.shape[1]}-D codings")


if __name__ == "__main__":
    main()
