"""The chapter's autoencoders: each model's contract on tiny shapes, and the options that define them."""

import numpy as np
import pytest
import torch

import aegan
from aegan.config import load_config, preset_names
from aegan.data.fashion_mnist import fashion_mnist_spec
from aegan.data.spec import DataSpec
from aegan.errors import AeganError
from aegan.layers import DenseTranspose, kl_sparsity, l1_activity
from aegan.models import (
    ConvAutoencoder,
    ConvAutoencoderConfig,
    DenseAutoencoder,
    DenseAutoencoderConfig,
    RecurrentAutoencoder,
    RecurrentAutoencoderConfig,
    build_model,
)

FASHION = fashion_mnist_spec()
TOY3D = DataSpec(layout="table", shape=(3,), scaling="none", value_range=(-1.5, 1.5))

DENSE_VARIANTS = {
    "plain": {},
    "tied": {"tied": True},
    "gaussian": {"input_noise": "gaussian", "noise_level": 0.2},
    "dropout": {"input_noise": "dropout", "noise_level": 0.5},
    "l1": {"coding_activation": "sigmoid", "sparsity": "l1", "sparsity_weight": 1e-3},
    "kl": {"coding_activation": "sigmoid", "sparsity": "kl", "sparsity_weight": 0.05},
    "tied+denoising+sparse": {"tied": True, "input_noise": "gaussian", "noise_level": 0.1,
                              "coding_activation": "sigmoid", "sparsity": "kl", "sparsity_weight": 0.05},
}


def tiny_models():
    for name, options in DENSE_VARIANTS.items():
        config = DenseAutoencoderConfig(hidden_sizes=(12,), coding_size=5, **options)
        yield name, DenseAutoencoder(config.for_data(FASHION))
    yield "conv", ConvAutoencoder(ConvAutoencoderConfig(filters=(2, 3, 4)).for_data(FASHION))
    yield "conv+denoising", ConvAutoencoder(ConvAutoencoderConfig(filters=(2, 3, 4), input_noise="gaussian",
                                                                   noise_level=0.2).for_data(FASHION))
    yield "recurrent", RecurrentAutoencoder(RecurrentAutoencoderConfig(hidden_size=6, coding_size=4).for_data(FASHION))


@pytest.mark.parametrize("name, model", list(tiny_models()), ids=[n for n, _ in tiny_models()])
def test_contract(name, model):
    torch.manual_seed(0)
    x = torch.rand(3, 1, 28, 28)
    z = model.encode(x)
    assert z.dim() == 2 and len(z) == 3
    assert model.decode(z).shape == (3, 1, 28, 28)
    out = model(x)
    assert out.shape == (3, 1, 28, 28) and 0 <= out.min() and out.max() <= 1
    terms = model.loss_terms(x)
    assert "loss" in terms and "reconstruction" in terms
    total = sum(v for k, v in terms.items() if k != "loss")
    torch.testing.assert_close(terms["loss"], total)
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    assert torch.equal(model(x), model(x))  # no noise outside training


def test_every_preset_builds():
    for name in preset_names():
        config = load_config(name)
        spec = TOY3D if config.data.dataset == "toy3d" else FASHION
        assert build_model(config.model.for_data(spec)) is not None, name


def test_tied_has_about_half_the_weights():
    def weights(model):
        return sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight"))

    stacked = build_model(load_config("stacked_ae").model.for_data(FASHION))
    tied = build_model(load_config("tied_ae").model.for_data(FASHION))
    print(f"weights: stacked_ae {weights(stacked):,}, tied_ae {weights(tied):,}")
    assert weights(stacked) == 162_800 and weights(tied) == 81_400
    decoder_layer = [m for m in tied.decoder if isinstance(m, DenseTranspose)][-1]
    assert decoder_layer.tied_to[0] is tied.encoder[0]
    # The decoder's gradient reaches the shared encoder weights.
    tied.decode(torch.randn(2, 30)).sum().backward()
    assert tied.encoder[0].weight.grad.abs().sum() > 0


def test_sparsity_penalties_match_their_formulas():
    codings = torch.tensor([[0.2, 0.0, 0.9], [0.4, 0.1, 0.5]])
    assert l1_activity(codings).item() == pytest.approx((1.1 + 1.0) / 2)
    mean = np.array([0.3, 0.05, 0.7])
    expected = np.sum(0.1 * np.log(0.1 / mean) + 0.9 * np.log(0.9 / (1 - mean)))
    assert kl_sparsity(codings, 0.1).item() == pytest.approx(expected, rel=1e-5)
    assert kl_sparsity(torch.full((4, 3), 0.1), 0.1).item() == pytest.approx(0.0, abs=1e-6)


def test_config_errors():
    with pytest.raises(AeganError, match="coding_activation='sigmoid'"):
        DenseAutoencoderConfig(sparsity="kl")
    with pytest.raises(AeganError, match="noise_level"):
        DenseAutoencoderConfig(input_noise="dropout", noise_level=1.5)


def test_recurrent_autoencoder_trains_on_a_sequence_array(tmp_path):
    """Noisy sine waves (N, T, F) from a .npy file: the loss falls and codings have the right size."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 2 * np.pi, 12)
    phases, freqs = rng.uniform(0, 2 * np.pi, (400, 1, 1)), rng.uniform(0.5, 2, (400, 1, 1))
    waves = np.sin(freqs * t[None, :, None] + phases + np.array([0, 1.5])[None, None, :])
    np.save(tmp_path / "waves.npy", (waves + 0.05 * rng.standard_normal(waves.shape)).astype(np.float32))
    run = aegan.train("recurrent_ae", out=tmp_path / "run", epochs=15, progress=False, log=lambda m: None,
                      overrides={"data.path": str(tmp_path / "waves.npy"),
                                 "model.hidden_size": 16, "model.coding_size": 4,
                                 "model.reconstruction_loss": "mse", "training.optimizer": "adam",
                                 "training.learning_rate": 0.01})
    losses = [r["val_loss"] for r in run.metrics()]
    assert losses[-1] < 0.5 * losses[0] and losses[-1] < 0.4  # standardised: the variance of the data is 1
    assert run.spec.layout == "sequence" and tuple(run.config.model.input_shape) == (12, 2)
    assert run.encode(np.load(tmp_path / "waves.npy")[:10]).shape == (10, 4)
    assert "val_rounded_accuracy" not in run.metrics()[-1]


def test_a_preset_shape_that_does_not_fit_the_data_is_a_user_error(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((50, 7), dtype=np.float32))
    with pytest.raises(AeganError, match=r"model.input_shape=\[28, 28\].*remove model.input_shape"):
        aegan.train("stacked_ae", out=tmp_path / "run", overrides={"data.path": str(tmp_path / "x.npy"),
                                                                    "model.input_shape": [28, 28]})
    assert not (tmp_path / "run").exists()


def test_linear_autoencoder_finds_the_pca_subspace(tmp_path):
    run = aegan.train("linear_pca", out=tmp_path / "run", progress=False, log=lambda m: None)
    result = aegan.api.evaluate(run, split="train")
    assert result["largest_principal_angle_degrees"] < 2
    assert result["mse_ratio"] < 1.01
