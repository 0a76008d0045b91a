"""GAN (the book's dense GAN and its two-phase loop): samples, interpolations, sample quality.

    .venv/bin/python examples/gan.py                       # Fashion-MNIST, the preset's 50 epochs
    .venv/bin/python examples/gan.py --epochs 5            # a quick look
    .venv/bin/python examples/gan.py --tiny                # 8x8 digits, 1 epoch: a few seconds

A GAN has no encoder: it samples and interpolates between random codings, from its checkpoint
alone. Writes into --out: run/ (the run folder, with a grid per epoch in run/samples/, their
animation run/samples/progress.gif and run/evaluation.json), samples.png and interpolations.png.
"""

import aegan
from example_setup import example_arguments


def main() -> None:
    out, data, epochs = example_arguments(__doc__, "gan")  # data None: Fashion-MNIST

    run = aegan.train("gan", data=data, epochs=epochs, out=out / "run")
    last = run.metrics()[-1]
    print("discriminator loss", last["d_loss"], "generator loss", last["g_loss"])

    aegan.plot_samples(run, out / "samples.png", n=24, seed=1)
    aegan.plot_interpolations(run, out / "interpolations.png")  # between random codings

    report = aegan.evaluate(run, n=2000)  # written to run/evaluation.json too
    print(f"FID {report.get('fid')} (floor {report.get('fid_floor')}), classes covered {report.get('classes_covered')}")


if __name__ == "__main__":
    main()
