"""StyleGAN: samples with and without truncation, and a style-mixing grid.

    .venv/bin/python examples/stylegan.py --epochs 1       # Fashion-MNIST
    .venv/bin/python examples/stylegan.py                  # the preset's 10 epochs
    .venv/bin/python examples/stylegan.py --tiny           # 8x8 digits, 1 epoch: seconds

Writes into --out: run/ (the run folder, with run/evaluation.json), samples.png, truncation.png
(the same codings with styles pulled 30% toward the mean style) and style-mixing.png (rows give
the coarse styles, columns the fine ones).
"""

import aegan
from example_setup import example_arguments


def main() -> None:
    out, data, epochs = example_arguments(__doc__, "stylegan")  # data None: Fashion-MNIST

    run = aegan.train("stylegan", data=data, epochs=epochs, out=out / "run")
    last = run.metrics()[-1]
    print("discriminator loss", last["d_loss"], "generator loss", last["g_loss"])

    aegan.plot_samples(run, out / "samples.png", n=24, seed=1)
    aegan.plot_samples(run, out / "truncation.png", n=24, seed=1, truncation=0.7)
    aegan.plot_samples(run, out / "style-mixing.png", mix=True)

    report = aegan.evaluate(run, n=2000)  # written to run/evaluation.json too
    print(f"FID {report.get('fid')} (floor {report.get('fid_floor')}), classes covered {report.get('classes_covered')}")


if __name__ == "__main__":
    main()
