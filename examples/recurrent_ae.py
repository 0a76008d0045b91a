"""Recurrent (LSTM) autoencoder: images read as sequences of rows; reconstructions, a map of its codings, probes.

    .venv/bin/python examples/recurrent_ae.py              # Fashion-MNIST, the preset's 10 epochs
    .venv/bin/python examples/recurrent_ae.py --epochs 1   # a quick look
    .venv/bin/python examples/recurrent_ae.py --tiny       # 8x8 digits, 1 epoch: a few seconds

The same preset trains on sequences of your own: aegan.train("recurrent_ae", data="X.npy") for an
array of shape (N, T, F). Writes into --out: run/ (the run folder, with run/evaluation.json),
reconstructions.png and codings-tsne.png.
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
    parser.add_argument("--out", default="runs/examples/recurrent_ae", help="output folder")
    parser.add_argument("--tiny", action="store_true", help="scikit-learn's 8x8 digits instead of Fashion-MNIST")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = tiny_data(out) if args.tiny else None  # None: Fashion-MNIST
    epochs = args.epochs or (1 if args.tiny else None)

    run = aegan.train("recurrent_ae", data=data, epochs=epochs, out=out / "run")
    print("validation loss", run.metrics()[-1]["val_loss"])

    aegan.plot_reconstructions(run, out / "reconstructions.png", n=8)
    codings, labels = aegan.encode(run, split="valid")  # (N, 30): the last LSTM state
    aegan.plot_codings(codings, labels, out / "codings-tsne.png", max_points=2000,
                       class_names=run.spec.class_names or None)

    report = aegan.evaluate(run)  # written to run/evaluation.json too
    print(f"5-NN accuracy of the codings {report.get('knn_accuracy')} (PCA: {report.get('pca_knn_accuracy')})")


if __name__ == "__main__":
    main()
