"""AutoencoderTransformer: any autoencoder preset as a scikit-learn transformer."""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_array

from aegan.errors import AeganError
from aegan.sklearn.base import AeganEstimator


def _codings(model, x: torch.Tensor) -> torch.Tensor:
    """The model's codings of x, flattened per sample (a VAE's: the posterior means)."""
    codings = model.encode(x)
    return (codings[0] if isinstance(codings, tuple) else codings).flatten(1)


class AutoencoderTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, AeganEstimator):
    """An autoencoder of any aegan preset, trained on X: `transform` encodes, `inverse_transform`
    decodes and `score_samples` is minus each sample's reconstruction error.

    The preset gives the model (its layers, loss and options); the parameters below override
    its training settings. X is standardised per feature unless its values lie in [0, 1]
    (`scaling="auto"`, as the command line does for float tables), and the outputs of
    `inverse_transform` are in X's own units. The training data also serves as validation
    data, so the `val_loss` of `history_` is the loss on X in evaluation mode.

    The model trains in float32; `transform`, `inverse_transform` and `score_samples` compute
    in X's float dtype (float64 through a float64 copy of the model), so a row's outputs do not
    depend on the other rows of its batch. A pickled estimator holds the weights as safetensors
    bytes and the config as JSON (no pickled torch module) and loads onto the CPU.

    Args:
        preset: An autoencoder preset (`aegan presets` lists them: stacked_ae, tied_ae,
            sparse_l1_ae, denoising_gaussian_ae, greedy_ae, linear_pca, vae, conv_ae with
            `input_shape`, ...) or the path of a TOML config file.
        input_shape: None: each row of X is a table's row. (time_steps, features) or
            (channels, height, width): each row is one such sample flattened in C order (for
            recurrent_ae, conv_ae, conv_vae).
        coding_size: The number of codings; None keeps the preset's.
        epochs: Passes over X.
        batch_size: Samples per step; None keeps the preset's. Clipped to the number of samples.
        optimizer: "sgd", "rmsprop", "adam" or "nadam"; None keeps the preset's (the dense
            presets use SGD at 1.5, tuned for 784 pixels in [0, 1], too fast for most tables).
        learning_rate: None keeps the preset's.
        scaling: "auto": values in [0, 1] as they are (with a binary cross-entropy loss), others
            standardised per feature with the statistics of X (mean squared error);
            "standardize" always; "none" never.
        overrides: Other config settings by dotted key, for example
            `{"model.hidden_sizes": [64]}`. Training uses one CPU thread (fastest for small
            models) unless `{"training.num_threads": 4}` asks for more.
        random_state: An int, a numpy RandomState or None. Seeds the weights, the batches'
            order and any noise: the same int gives the same model.
        device: "cpu", "cuda", or "auto" (a GPU when one is visible).
        verbose: 0: silent; 1: one line per epoch on stderr; 2: also progress bars.

    Attributes:
        model_ (torch.nn.Module): The trained autoencoder, in evaluation mode.
        config_ (aegan.config.RunConfig): The resolved config it was built and trained with
            (the seed is the one used).
        spec_ (aegan.data.spec.DataSpec): The description of X: sample shape, scaling and its
            statistics.
        history_ (list[dict]): One record per epoch from the training loop (loss, val_loss,
            seconds, ...).
        coding_shape_ (tuple[int, ...]): The shape of one sample's codings; `transform` gives
            them flattened.
        n_features_in_ (int): The number of features of X.
        feature_names_in_ (numpy.ndarray): The column names of X, when X has them.
    """

    required_capabilities = frozenset({"encode", "reconstruct", "score"})
    what_it_needs = "an autoencoder preset such as 'stacked_ae', 'tied_ae' or 'vae'"

    def __init__(self, preset="stacked_ae", *, input_shape=None, coding_size=None, epochs=10, batch_size=None,
                 optimizer="adam", learning_rate=0.001, scaling="auto", overrides=None, random_state=None,
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]  # computed in X's float dtype
        return tags

    def fit(self, X, y=None):
        """Train the preset's autoencoder on X (n_samples, n_features); y is ignored.

        Returns:
            The fitted estimator.
        """
        self._fit(X, y)
        X = self._validate(X, reset=False)
        with torch.no_grad():
            codings = self.model_.encode(self._to_model(X[:1]))
        codings = codings[0] if isinstance(codings, tuple) else codings
        self.coding_shape_ = tuple(int(size) for size in codings.shape[1:])
        return self

    @property
    def _n_features_out(self) -> int:
        return math.prod(self.coding_shape_)

    def transform(self, X):
        """The codings of X's rows (a VAE's: the means of its posterior), in X's float dtype.

        Returns:
            The codings, an array of shape (n_samples, n_codings).
        """
        self._check_fitted()
        X = self._validate(X, reset=False)
        return self._batched(_codings, X).numpy().astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        """Decode codings (n_samples, n_codings) into samples in X's units.

        Returns:
            The decoded samples, an array of shape (n_samples, n_features_in_).
        """
        self._check_fitted()
        codings = check_array(X, dtype=[np.float64, np.float32])
        if codings.shape[1] != self._n_features_out:
            raise AeganError(f"{self._name()}.inverse_transform: codings have {codings.shape[1]} columns, but the "
                             f"model makes {self._n_features_out}: give the output of transform")
        model = self._model_for(codings.dtype)
        tensor = torch.from_numpy(np.array(codings, order="C")).reshape(len(codings), *self.coding_shape_)
        model.eval()
        with torch.no_grad():
            decoded = model.decode(tensor.to(self._device()))
        return self._to_rows(decoded, codings.dtype)

    def score_samples(self, X):
        """Minus each sample's reconstruction error (the model's own loss per value, in the model's
        scale): the higher, the more typical; outliers score lowest.

        Returns:
            The scores, an array of shape (n_samples,).
        """
        from aegan.evaluation.anomaly import _batch_errors as reconstruction_errors

        self._check_fitted()
        X = self._validate(X, reset=False)
        return -self._batched(reconstruction_errors, X).double().numpy()

    def score(self, X, y=None):
        """The mean of `score_samples` over X (minus the mean reconstruction error), so that
        GridSearchCV can tune the autoencoder on its own; y is ignored."""
        return float(np.mean(self.score_samples(X)))
