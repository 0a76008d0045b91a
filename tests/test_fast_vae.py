"""The hand-derived VAE step must match the autograd step (float64, same random numbers)."""

import pytest
import torch

from aegan.config import TrainingConfig
from aegan.data.fashion_mnist import fashion_mnist_spec
from aegan.models import VAEConfig, VariationalAutoencoder
from aegan.training import fast_vae
from aegan.training.fast_steps import select_autoencoder_step
from aegan.training.optimizers import build_optimizer

FASHION = fashion_mnist_spec()


@pytest.mark.parametrize("beta", [1.0, 0.25])
def test_fast_vae_step_matches_autograd(beta):
    config = VAEConfig(input_shape=(4, 5), hidden_sizes=(7, 6), coding_size=3, beta=beta,
                       reconstruction_loss="binary_crossentropy")
    torch.manual_seed(0)
    plain = VariationalAutoencoder(config).double()
    fast = VariationalAutoencoder(config).double()
    fast.load_state_dict(plain.state_dict())
    steps, optimizers = {}, {}
    for name, model, fast_path in (("plain", plain, False), ("fast", fast, True)):
        training = TrainingConfig(optimizer="rmsprop", learning_rate=0.01, fast_path=fast_path)
        optimizers[name] = build_optimizer("rmsprop", model.parameters(), 0.01)
        steps[name], chosen = select_autoencoder_step(model, training, optimizers[name])
        assert chosen == ("fast_vae" if fast_path else "autograd")
    assert "make_vae_step" in steps["fast"].__qualname__ and "make_vae_step" not in steps["plain"].__qualname__
    batches = torch.rand(5, 8, 4, 5, dtype=torch.float64)
    for batch in batches:
        losses = {}
        for name in ("plain", "fast"):
            torch.manual_seed(1)  # the same reparameterisation noise
            losses[name] = steps[name](batch).item()
        assert losses["fast"] == pytest.approx(losses["plain"], rel=1e-10)
    for (name, a), b in zip(plain.state_dict().items(), fast.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11, msg=name)
    # The optimizer state is the optimizer's own, so checkpoints hold it.
    plain_state, fast_state = (optimizers[k].state_dict()["state"] for k in ("plain", "fast"))
    for key in plain_state:
        torch.testing.assert_close(plain_state[key]["square_avg"], fast_state[key]["square_avg"], rtol=1e-9, atol=1e-14)
        assert fast_state[key]["step"].item() == 5


def test_fast_path_is_not_used_where_it_does_not_apply():
    model = VariationalAutoencoder(VAEConfig(activation="relu").for_data(FASHION))
    assert not fast_vae.supports(model, TrainingConfig(optimizer="rmsprop"))
    vae = VariationalAutoencoder(VAEConfig().for_data(FASHION))
    assert fast_vae.supports(vae, TrainingConfig(optimizer="rmsprop"))
    assert not fast_vae.supports(vae, TrainingConfig(optimizer="adam"))
    assert not fast_vae.supports(vae, TrainingConfig(optimizer="rmsprop", fast_path=False))
    # Its math is binary cross-entropy on sigmoid outputs: an MSE VAE (standardised data) takes autograd.
    mse = VariationalAutoencoder(VAEConfig(reconstruction_loss="mse").for_data(FASHION))
    assert not fast_vae.supports(mse, TrainingConfig(optimizer="rmsprop"))
