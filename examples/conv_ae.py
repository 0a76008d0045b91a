"""Convolutional autoencoder, trained as a denoiser: reconstructions, denoised images, a map of its codings.

    .venv/bin/python examples/conv_ae.py                   # Fashion-MNIST, the preset's 5 epochs
    .venv/bin/python examples/conv_ae.py --epochs 1        # a quick look
    .venv/bin/python examples/conv_ae.py --tiny            # 8x8 digits, 1 epoch: a few seconds

Gaussian noise (std 0.2) is added to its inputs while it trains (the conv_ae preset with
model.input_noise set: options compose). Writes into --out: run/ (the run folder),
reconstructions.png, denoising.png (originals, noisy inputs, denoised outputs) and codings-tsne.png.
"""

import aegan
from example_setup import example_arguments


def main() -> None:
    out, data, epochs = example_arguments(__doc__, "conv_ae")  # data None: Fashion-MNIST

    noise = {"model.input_noise": "gaussian", "model.noise_level": 0.2}
    run = aegan.train("conv_ae", data=data, epochs=epochs, out=out / "run", overrides=noise)
    print("validation loss", run.metrics()[-1]["val_loss"])

    aegan.plot_reconstructions(run, out / "reconstructions.png", n=8)
    aegan.plot_reconstructions(run, out / "denoising.png", n=8, noise=True)
    codings, labels = aegan.encode(run, split="valid")  # the flattened feature maps, e.g. (N, 576)
    aegan.plot_codings(codings, labels, out / "codings-tsne.png", max_points=2000,
                       class_names=run.spec.class_names or None)
    print(f"{codings.shape[1]}-D codings")


if __name__ == "__main__":
    main()
