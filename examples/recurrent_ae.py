"""Recurrent (LSTM) autoencoder: images read as sequences of rows; reconstructions, a map of its codings, probes.

    .venv/bin/python examples/recurrent_ae.py              # Fashion-MNIST, the preset's 10 epochs
    .venv/bin/python examples/recurrent_ae.py --epochs 1   # a quick look
    .venv/bin/python examples/recurrent_ae.py --tiny       # 8x8 digits, 1 epoch: a few seconds

The same preset trains on sequences of your own: aegan.train("recurrent_ae", data="X.npy") for an
array of shape (N, T, F). Writes into --out: run/ (the run folder, with run/evaluation.json),
reconstructions.png and codings-tsne.png.
"""

import aegan
from example_setup import example_arguments


def main() -> None:
    out, data, epochs = example_arguments(__doc__, "recurrent_ae")  # data None: Fashion-MNIST

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
