"""Convolutional variational autoencoder: reconstructions, new samples, interpolations, sample quality.

    .venv/bin/python examples/conv_vae.py                  # Fashion-MNIST, the preset's 25 epochs
    .venv/bin/python examples/conv_vae.py --epochs 1       # a quick look
    .venv/bin/python examples/conv_vae.py --tiny           # 8x8 digits, 1 epoch: a few seconds

Writes into --out: run/ (the run folder, with run/evaluation.json), reconstructions.png,
samples.png and interpolations.png.
"""

import aegan
from example_setup import example_arguments


def main() -> None:
    out, data, epochs = example_arguments(__doc__, "conv_vae")  # data None: Fashion-MNIST

    run = aegan.train("conv_vae", data=data, epochs=epochs, out=out / "run")
    print("validation loss", run.metrics()[-1]["val_loss"])

    aegan.plot_reconstructions(run, out / "reconstructions.png", n=8)
    aegan.plot_samples(run, out / "samples.png", n=24, seed=1)
    aegan.plot_interpolations(run, out / "interpolations.png")
    images = aegan.sample(run, n=4, seed=1)  # the samples themselves, (4, C, H, W) in [0, 1]
    print("samples of shape", images.shape)

    report = aegan.evaluate(run, n=2000)  # written to run/evaluation.json too
    print(f"FID {report.get('fid')} (floor {report.get('fid_floor')}), classes covered {report.get('classes_covered')}")


if __name__ == "__main__":
    main()
