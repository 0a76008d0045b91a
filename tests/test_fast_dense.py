"""The hand-derived dense SGD step must match autograd + torch.optim.SGD."""

import pytest
import torch

from aegan.models import DenseAutoencoder, DenseAutoencoderConfig
from aegan.training.fast_dense import FastDenseSGD


@pytest.mark.parametrize("activation", ["selu", "relu", "linear"])
@pytest.mark.parametrize("loss", ["binary_crossentropy", "mse"])
def test_fast_step_matches_autograd(activation, loss):
    config = DenseAutoencoderConfig(input_shape=(6, 5), hidden_sizes=(12, 9), coding_size=4,
                                    activation=activation, reconstruction_loss=loss)
    torch.manual_seed(0)
    plain = DenseAutoencoder(config).double()
    fast = DenseAutoencoder(config).double()
    fast.load_state_dict(plain.state_dict())
    optimizer = torch.optim.SGD(plain.parameters(), lr=0.7)
    step = FastDenseSGD(fast, 0.7)
    data = torch.rand(5, 7, 6, 5, dtype=torch.float64)
    for batch in data[:, : 7 - 2 * (loss == "mse")]:  # includes a smaller final batch for mse
        optimizer.zero_grad()
        expected_loss = plain.loss_terms(batch)["loss"]
        expected_loss.backward()
        optimizer.step()
        loss_sum = step(batch.flatten(1))
        assert loss_sum.item() / batch.numel() == pytest.approx(expected_loss.item(), rel=1e-9)
    for (name, a), b in zip(plain.state_dict().items(), fast.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=name)
    assert not torch.equal(plain.encoder[0].weight, DenseAutoencoder(config).double().encoder[0].weight)


def test_fast_step_loss_is_finite_for_saturated_outputs():
    config = DenseAutoencoderConfig(input_shape=(4,), hidden_sizes=(3,), coding_size=2,
                                    reconstruction_loss="binary_crossentropy")
    model = DenseAutoencoder(config)
    with torch.no_grad():
        model.decoder[-1].bias.fill_(40.0)  # sigmoid(40) == 1 in float32
    x = torch.ones(2, 4)
    loss = FastDenseSGD(model, 0.1)(x)
    assert torch.isfinite(loss) and 0 <= loss.item() < 1e-3
