"""The scikit-learn estimators: scikit-learn's own checks, Pipeline + GridSearchCV in worker
processes, pickling without a pickled torch module, sampling, reproducibility, anomaly scores."""

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from aegan.sklearn import AutoencoderTransformer, GANSampler, VAETransformer

# Every check of scikit-learn's check_estimator passes for the three estimators: no expected
# failures to list. Fewer epochs than the default keep the dozens of fits it makes quick.
ESTIMATORS = [AutoencoderTransformer(epochs=1), VAETransformer(epochs=1), GANSampler(epochs=1)]
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda estimator: type(estimator).__name__)
def test_check_estimator_passes(estimator):
    check_estimator(estimator, expected_failed_checks=EXPECTED_FAILED_CHECKS.get(type(estimator).__name__),
                    on_skip=None)


def plane_in_five_dimensions(count, seed=0, offset=50.0):
    """Points near a 2-D plane in 5-D, far from the origin (so that scaling back to X's units shows)."""
    rng = np.random.default_rng(seed)
    basis = np.array([[1.0, 0.5, -0.3, 0.8, 0.1], [0.2, -0.7, 0.9, 0.1, 0.6]])
    return offset + 3.0 * rng.normal(size=(count, 2)) @ basis + rng.normal(0, 0.05, size=(count, 5))


def test_pipeline_grid_search_in_worker_processes_beats_chance_on_digits():
    X, y = load_digits(return_X_y=True)
    pipeline = Pipeline([("scale", StandardScaler()),
                         ("codings", AutoencoderTransformer(epochs=4, random_state=0)),
                         ("classify", LogisticRegression(max_iter=300))])
    search = GridSearchCV(pipeline, {"codings__coding_size": [4, 16]}, cv=3, n_jobs=2)
    search.fit(X, y)
    assert search.best_params_["codings__coding_size"] in (4, 16)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert search.best_score_ > 0.8  # chance is 0.1 (ten balanced classes)
    codings = search.best_estimator_[:-1].transform(X[:5])
    assert codings.shape == (5, search.best_params_["codings__coding_size"])


def test_same_random_state_same_model_and_global_generator_untouched():
    X = plane_in_five_dimensions(120)
    before = torch.get_rng_state()
    first = AutoencoderTransformer(epochs=2, coding_size=3, random_state=7).fit(X).transform(X)
    assert torch.equal(torch.get_rng_state(), before)  # fit seeds its own generators and gives them back
    again = AutoencoderTransformer(epochs=2, coding_size=3, random_state=7).fit(X).transform(X)
    other = AutoencoderTransformer(epochs=2, coding_size=3, random_state=8).fit(X).transform(X)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_pickle_carries_safetensors_bytes_and_json_not_a_torch_module(tmp_path):
    X = plane_in_five_dimensions(100)
    estimator = AutoencoderTransformer("tied_ae", epochs=2, coding_size=2, random_state=0).fit(X)
    state = estimator.__getstate__()
    assert "model_" not in state
    assert isinstance(state["model_safetensors_"], bytes) and state["model_safetensors_"]
    assert isinstance(state["config_"], dict) and state["config_"]["model"]["kind"] == "dense_ae"
    data = pickle.dumps(estimator)
    assert b"torch" not in data and b"aegan.models" not in data  # no class of torch or of a model is pickled
    loaded = pickle.loads(data)
    np.testing.assert_array_equal(loaded.transform(X), estimator.transform(X))
    np.testing.assert_array_equal(loaded.score_samples(X), estimator.score_samples(X))
    # A fresh process loads it too, and `import aegan` alone had not imported aegan.sklearn.
    (tmp_path / "estimator.pkl").write_bytes(data)
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(f"""
        import pickle, sys
        import numpy as np
        import aegan
        assert "aegan.sklearn" not in sys.modules, "import aegan imported aegan.sklearn"
        estimator = pickle.loads(open({str(tmp_path / 'estimator.pkl')!r}, "rb").read())
        np.save({str(tmp_path / 'codings.npy')!r}, estimator.transform(np.load({str(tmp_path / 'X.npy')!r})))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    np.testing.assert_array_equal(np.load(tmp_path / "codings.npy"), estimator.transform(X))


def test_inverse_transform_gives_back_x_in_its_own_units():
    X = plane_in_five_dimensions(300)
    estimator = AutoencoderTransformer(epochs=30, coding_size=2, random_state=0).fit(X)
    reconstructed = estimator.inverse_transform(estimator.transform(X))
    assert reconstructed.shape == X.shape
    error = np.mean((reconstructed - X) ** 2)
    assert error < 0.1 * X.var(axis=0).sum(), error  # far below the data's own spread, around the offset of 50


def test_score_samples_ranks_planted_outliers_lowest():
    inliers = plane_in_five_dimensions(400, seed=1)
    estimator = AutoencoderTransformer(epochs=30, coding_size=2, random_state=0).fit(inliers)
    test_inliers = plane_in_five_dimensions(100, seed=3)
    # Each column shuffled on its own: every feature keeps its values and spread, the points leave the
    # plane; only what the model learned of the joint structure tells them apart (untrained: AUC ~0.65).
    rng = np.random.default_rng(2)
    outliers = np.column_stack([rng.permutation(column) for column in plane_in_five_dimensions(20, seed=4).T])
    scores = estimator.score_samples(np.vstack([test_inliers, outliers]))
    is_outlier = np.r_[np.zeros(100), np.ones(20)]
    assert roc_auc_score(is_outlier, -scores) > 0.95
    assert estimator.score(test_inliers) > estimator.score(outliers)


def test_vae_samples_are_finite_reproducible_and_in_x_units():
    X = plane_in_five_dimensions(300)
    vae = VAETransformer(epochs=3, random_state=0).fit(X)
    first, again = vae.sample(200, random_state=1), vae.sample(200, random_state=1)
    other = vae.sample(200, random_state=2)
    assert first.shape == (200, 5) and np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert np.all(np.abs(first.mean(axis=0) - X.mean(axis=0)) < X.std(axis=0))  # around 50, not around 0
    assert vae.transform(X).shape == (300, vae.config_.model.coding_size)


def test_vae_on_images_given_as_flattened_rows():
    images = np.random.default_rng(0).random((48, 64))  # 48 one-channel 8x8 images in [0, 1]
    vae = VAETransformer("conv_vae", input_shape=(1, 8, 8), coding_size=3, epochs=1, random_state=0).fit(images)
    assert vae.spec_.layout == "image" and vae.spec_.scaling == "none"  # values in [0, 1] stay as they are
    assert vae.transform(images).shape == (48, 3)
    samples = vae.sample(5, random_state=0)
    assert samples.shape == (5, 64) and samples.min() >= 0 and samples.max() <= 1  # sigmoid outputs


def test_gan_fits_and_samples_reproducibly_even_after_pickling():
    X = plane_in_five_dimensions(256)
    gan = GANSampler(epochs=3, random_state=0).fit(X)
    assert [record["epoch"] for record in gan.history_] == [1, 2, 3]
    samples = gan.sample(64, random_state=0)
    assert samples.shape == (64, 5) and np.isfinite(samples).all()
    np.testing.assert_array_equal(samples, gan.sample(64, random_state=0))
    np.testing.assert_array_equal(samples, pickle.loads(pickle.dumps(gan)).sample(64, random_state=0))
    assert not np.allclose(samples, gan.sample(64, random_state=1))


@pytest.mark.parametrize("estimator, X, message", [
    (AutoencoderTransformer(epochs=0), None, r"epochs=0\): expected a whole number"),
    (AutoencoderTransformer(coding_size=-1), None, r"coding_size=-1"),
    (AutoencoderTransformer(scaling="zscore"), None, r"scaling='zscore'\): expected one of auto, standardize, none"),
    (AutoencoderTransformer(preset="stacked_autoencoder"), None, r"unknown preset 'stacked_autoencoder'"),
    (AutoencoderTransformer(preset="gan"), None, r"builds a gan model; AutoencoderTransformer needs an autoencoder"),
    (VAETransformer(preset="stacked_ae"), None, r"builds a dense_ae model; VAETransformer needs a variational"),
    (GANSampler(preset="vae"), None, r"builds a vae model; GANSampler needs a GAN preset"),
    (GANSampler(preset="cgan"), None, r"conditional model needs class labels"),
    (AutoencoderTransformer(overrides={"training.num_epochs": 3}), None, r"set it with the parameter epochs="),
    (AutoencoderTransformer(overrides={"data.path": "x.csv"}), None, r"data\.\* keys do not apply"),
    (AutoencoderTransformer(overrides={"model.hiden_sizes": [8]}), None, r"did you mean 'model.hidden_sizes'"),
    (AutoencoderTransformer(input_shape=(2, 2)), None, r"input_shape=\(2, 2\)\) holds 4 values, but X has 5"),
    (AutoencoderTransformer("conv_ae"), None, r"conv_ae needs images .* input_shape naming one sample's shape"),
    (AutoencoderTransformer(random_state=-1), None, r"random_state=-1"),
    (AutoencoderTransformer(epochs=1), np.zeros((4, 5, 1)), r"Found array with dim 3"),
])
def test_bad_parameters_raise_one_clear_value_error_in_fit(estimator, X, message):
    with pytest.raises(ValueError, match=message):
        estimator.fit(plane_in_five_dimensions(10) if X is None else X)


def test_sample_count_must_be_positive():
    vae = VAETransformer(epochs=1, random_state=0).fit(plane_in_five_dimensions(20))
    with pytest.raises(ValueError, match=r"sample\(n_samples=0\): expected a whole number"):
        vae.sample(0)
