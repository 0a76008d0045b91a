"""DCGAN (the book's convolutional GAN): samples, interpolations, sample quality.

    .venv/bin/python examples/dcgan.py --epochs 1          # Fashion-MNIST: about 3.5 minutes an epoch on 2 cores
    .venv/bin/python examples/dcgan.py                     # the preset's 10 epochs
    .venv/bin/python examples/dcgan.py --tiny              # 8x8 digits, 1 epoch: a few seconds

Writes into --out: run/ (the run folder, with a grid per epoch in run/samples/, their animation
run/samples/progress.gif and run/evaluation.json), samples.png and interpolations.png.
"""

import aegan
from example_setup import example_arguments


def main() -> None:
    out, data, epochs = example_arguments(__doc__, "dcgan")  # data None: Fashion-MNIST

    run = aegan.train("dcgan", data=data, epochs=epochs, out=out / "run")
    last = run.metrics()[-1]
    print("discriminator loss", last["d_loss"], "generator loss", last["g_loss"])

    aegan.plot_samples(run, out / "samples.png", n=24, seed=1)
    aegan.plot_interpolations(run, out / "interpolations.png")

    report = aegan.evaluate(run, n=2000)  # written to run/evaluation.json too
    print(f"FID {report.get('fid')} (floor {report.get('fid_floor')}), classes covered {report.get('classes_covered')}")


if __name__ == "__main__":
    main()
