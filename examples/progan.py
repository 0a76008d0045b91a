"""Progressive growing: a GAN that grows from 4x4 to the data's size while it trains.

    .venv/bin/python examples/progan.py --epochs 4         # Fashion-MNIST: grown to 32x32 (28x28 cropped)
    .venv/bin/python examples/progan.py                    # the preset's 10 epochs
    .venv/bin/python examples/progan.py --tiny             # 8x8 digits, 1 epoch: seconds

Writes into --out: run/ (the run folder, with a grid per epoch in run/samples/ that shows the growth,
their animation run/samples/progress.gif and run/evaluation.json), samples.png and interpolations.png.
"""

import aegan
from example_setup import example_arguments


def main() -> None:
    out, data, epochs = example_arguments(__doc__, "progan")  # data None: Fashion-MNIST
    overrides = {"model.images_per_phase": 300} if data is not None else {}  # tiny data: grow within an epoch

    run = aegan.train("progan", data=data, epochs=epochs, out=out / "run", overrides=overrides)
    level, alpha = run.model.phase()
    print(f"grown to {4 * 2 ** level}x{4 * 2 ** level} (the new block's weight {alpha:.2f})")

    aegan.plot_samples(run, out / "samples.png", n=24, seed=1)
    aegan.plot_interpolations(run, out / "interpolations.png")

    report = aegan.evaluate(run, n=2000)  # written to run/evaluation.json too
    print(f"FID {report.get('fid')} (floor {report.get('fid_floor')}), classes covered {report.get('classes_covered')}")


if __name__ == "__main__":
    main()
