"""Denoising diffusion: samples in 50 and 250 DDIM steps, interpolation between noises, sample quality.

    .venv/bin/python examples/ddpm.py --epochs 1           # Fashion-MNIST: about 5 minutes an epoch on 2 cores
    .venv/bin/python examples/ddpm.py                      # the preset's 20 epochs
    .venv/bin/python examples/ddpm.py --tiny               # 8x8 digits, 1 epoch: seconds

Writes into --out: run/ (the run folder, with a grid per epoch in run/samples/, their animation
run/samples/progress.gif and run/evaluation.json), samples.png, samples-250-steps.png and
interpolations.png.
"""

import aegan
from example_setup import example_arguments


def main() -> None:
    out, data, epochs = example_arguments(__doc__, "ddpm")  # data None: Fashion-MNIST

    run = aegan.train("ddpm", data=data, epochs=epochs, out=out / "run")
    print("loss", run.metrics()[-1]["loss"])

    aegan.plot_samples(run, out / "samples.png", n=24, seed=1)  # DDIM, the preset's 50 steps
    aegan.plot_samples(run, out / "samples-250-steps.png", n=24, seed=1, steps=250)
    aegan.plot_interpolations(run, out / "interpolations.png")  # between noises, along their sphere

    report = aegan.evaluate(run, n=1000)  # written to run/evaluation.json too
    print(f"FID {report.get('fid')} (floor {report.get('fid_floor')}), "
          f"{report.get('sampling_seconds_per_1000')} s per 1,000 samples")


if __name__ == "__main__":
    main()
