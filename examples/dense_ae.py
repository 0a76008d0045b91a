"""Dense autoencoder (the book's stacked autoencoder): reconstructions, a map of its codings, probes.

    .venv/bin/python examples/dense_ae.py                  # Fashion-MNIST, the preset's 20 epochs
    .venv/bin/python examples/dense_ae.py --epochs 2       # a quick look
    .venv/bin/python examples/dense_ae.py --tiny           # 8x8 digits, 1 epoch: a few seconds

Writes into --out: run/ (the run folder, with run/evaluation.json), reconstructions.png and
codings-tsne.png.
"""

import aegan
from example_setup import example_arguments


def main() -> None:
    out, data, epochs = example_arguments(__doc__, "dense_ae")  # data None: Fashion-MNIST

    run = aegan.train("stacked_ae", data=data, epochs=epochs, out=out / "run")
    print("validation loss", run.metrics()[-1]["val_loss"])

    aegan.plot_reconstructions(run, out / "reconstructions.png", n=8)
    codings, labels = aegan.encode(run, split="valid")  # (N, 30) codings of the validation split
    aegan.plot_codings(codings, labels, out / "codings-tsne.png", max_points=2000,
                       class_names=run.spec.class_names or None)

    report = aegan.evaluate(run)  # written to run/evaluation.json too
    print(f"linear probe accuracy of the codings {report.get('linear_probe_accuracy')} "
          f"(PCA: {report.get('pca_linear_probe_accuracy')})")


if __name__ == "__main__":
    main()
