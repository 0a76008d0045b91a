"""Variational autoencoder (the book's): reconstructions, new samples, interpolations, ELBO and sample quality.

    .venv/bin/python examples/vae.py                       # Fashion-MNIST, the preset's 25 epochs
    .venv/bin/python examples/vae.py --epochs 2            # a quick look
    .venv/bin/python examples/vae.py --tiny                # 8x8 digits, 1 epoch: a few seconds

Writes into --out: run/ (the run folder, with run/evaluation.json: negative ELBO, active units,
FID and the other generative metrics), reconstructions.png, samples.png, interpolations.png and
codings-tsne.png.
"""

import aegan
from example_setup import example_arguments


def main() -> None:
    out, data, epochs = example_arguments(__doc__, "vae")  # data None: Fashion-MNIST

    run = aegan.train("vae", data=data, epochs=epochs, out=out / "run")
    print("validation loss", run.metrics()[-1]["val_loss"])

    aegan.plot_reconstructions(run, out / "reconstructions.png", n=8)
    aegan.plot_samples(run, out / "samples.png", n=24, seed=1)  # decoded Gaussian codings
    aegan.plot_interpolations(run, out / "interpolations.png")  # between images, then random codings
    codings, labels = aegan.encode(run, split="valid")  # (N, 10): the posterior means
    aegan.plot_codings(codings, labels, out / "codings-tsne.png", max_points=2000,
                       class_names=run.spec.class_names or None)

    report = aegan.evaluate(run, n=2000)  # written to run/evaluation.json too
    print(f"negative ELBO {report.get('negative_elbo_nats')} nats, FID {report.get('fid')} "
          f"(floor {report.get('fid_floor')})")


if __name__ == "__main__":
    main()
