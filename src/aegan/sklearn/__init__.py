"""scikit-learn estimators over aegan's models and training loops.

    from aegan.sklearn import AutoencoderTransformer, GANSampler, VAETransformer

    codings = AutoencoderTransformer("stacked_ae", coding_size=8, random_state=0).fit_transform(X)
    new_rows = VAETransformer(random_state=0).fit(X).sample(100, random_state=1)
    fakes = GANSampler(epochs=20, random_state=0).fit(X).sample(100)

X is a 2-D array (n_samples, n_features): a table, or images and sequences flattened into
rows with `input_shape` naming one sample's shape. Each estimator follows scikit-learn's
conventions (parameters kept as given, checked in fit; fitted attributes ending in `_`;
`random_state`), works in Pipeline and GridSearchCV, and pickles its model as safetensors
bytes plus its JSON config (an unpickled model is on the CPU). `import aegan` does not import
this module.
"""

from aegan.sklearn.autoencoder import AutoencoderTransformer
from aegan.sklearn.gan import GANSampler
from aegan.sklearn.vae import VAETransformer

__all__ = ["AutoencoderTransformer", "GANSampler", "VAETransformer"]
