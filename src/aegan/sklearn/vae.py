"""VAETransformer: a variational autoencoder as a scikit-learn transformer that also samples."""

from __future__ import annotations

from aegan.sklearn.autoencoder import AutoencoderTransformer


class VAETransformer(AutoencoderTransformer):
    """A variational autoencoder trained on X: `transform` gives the posterior means,
    `inverse_transform` decodes, `score_samples` is minus the reconstruction error and
    `sample` draws new samples from the prior, in X's units.

    Parameters and attributes are those of `AutoencoderTransformer`, with preset="vae" (or
    "conv_vae" with `input_shape`, or a TOML file of a VAE) and optimizer="rmsprop" (the preset's).
    """

    required_capabilities = frozenset({"encode", "reconstruct", "score", "sample"})
    what_it_needs = ("a variational autoencoder preset such as 'vae' or 'conv_vae' (AutoencoderTransformer "
                     "takes the others)")

    def __init__(self, preset="vae", *, input_shape=None, coding_size=None, epochs=10, batch_size=None,
                 optimizer="rmsprop", learning_rate=0.001, scaling="auto", overrides=None, random_state=None,
                 device="cpu", verbose=0):
        super().__init__(preset, input_shape=input_shape, coding_size=coding_size, epochs=epochs,
                         batch_size=batch_size, optimizer=optimizer, learning_rate=learning_rate, scaling=scaling,
                         overrides=overrides, random_state=random_state, device=device, verbose=verbose)

    def sample(self, n_samples=1, random_state=None):
        """New samples decoded from codings drawn from the N(0, I) prior, in X's units.

        Args:
            n_samples: How many samples to draw.
            random_state: An int, a numpy RandomState or None; the same int gives the same samples.

        Returns:
            The samples, an array of shape (n_samples, n_features_in_).
        """
        return self._draw(n_samples, random_state)
