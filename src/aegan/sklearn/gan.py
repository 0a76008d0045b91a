"""GANSampler: a GAN trained on X that draws new samples like it."""

from __future__ import annotations

from pathlib import Path

from aegan.sklearn.base import AeganEstimator


class GANSampler(AeganEstimator):
    """A generative adversarial network trained on X with the chapter's two-phase loop;
    `sample` draws new samples in X's units.

    X is standardised per feature unless its values lie in [0, 1] (then the generator ends in a
    sigmoid, as for images). Whole batches only: `batch_size` is clipped to the number of samples.

    Args:
        preset: An unconditional GAN preset ("gan", or "dcgan" with `input_shape`) or the path
            of a TOML config file.
        input_shape: None: each row of X is a table's row; (channels, height, width): each row
            is an image flattened in C order (for dcgan).
        coding_size: The size of the generator's random codings; None keeps the preset's.
        epochs: Passes over X.
        batch_size: Samples per step; None keeps the preset's (32).
        optimizer: "sgd", "rmsprop", "adam" or "nadam"; None keeps the preset's (RMSprop).
        learning_rate: None keeps the preset's (0.001).
        scaling: As for `AutoencoderTransformer`.
        overrides: Other config settings by dotted key, for example
            `{"model.generator_sizes": [64, 64]}`. Training uses one CPU thread unless
            `{"training.num_threads": 4}` asks for more.
        random_state: An int, a numpy RandomState or None. Seeds the weights, the batches'
            order and the codings drawn while training.
        device: "cpu", "cuda", or "auto" (a GPU when one is visible).
        verbose: 0: silent; 1: one line per epoch on stderr; 2: also progress bars.

    Attributes:
        model_ (aegan.models.GAN): The trained generator and discriminator, in evaluation mode.
        config_ (aegan.config.RunConfig): The resolved config.
        spec_ (aegan.data.spec.DataSpec): The description of X.
        history_ (list[dict]): One record per epoch: d_loss, g_loss, the discriminator's
            accuracy on reals and fakes.
        n_features_in_ (int): The number of features of X.
    """

    required_capabilities = frozenset({"sample"})
    required_loop = "gan"
    what_it_needs = "a GAN preset such as 'gan' or 'dcgan' (the autoencoders have estimators of their own)"

    def __init__(self, preset="gan", *, input_shape=None, coding_size=None, epochs=10, batch_size=None,
                 optimizer=None, learning_rate=None, scaling="auto", overrides=None, random_state=None,
                 device="cpu", verbose=0):
        self.preset = preset
        self.input_shape = input_shape
        self.coding_size = coding_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.scaling = scaling
        self.overrides = overrides
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def fit(self, X, y=None):
        """Train the preset's GAN on X (n_samples, n_features); y is ignored.

        Returns:
            The fitted estimator.
        """
        return self._fit(X, y)

    def _train(self, model, config, samples, spec, device, run_dir: Path, shuffle) -> list[dict]:
        from aegan.data.batches import Batches
        from aegan.data.spec import Split
        from aegan.training.gan import train_gan

        batches = Batches(Split(samples), spec, device, labels=False)
        return train_gan(model, config, batches, run_dir, shuffle, progress=self.verbose >= 2, log=self._log)

    def sample(self, n_samples=1, random_state=None):
        """New samples from the generator, in X's units.

        Args:
            n_samples: How many samples to draw.
            random_state: An int, a numpy RandomState or None; the same int gives the same samples.

        Returns:
            The samples, an array of shape (n_samples, n_features_in_).
        """
        return self._draw(n_samples, random_state)
