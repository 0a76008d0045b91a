"""The private PyTorch operators behind the fast steps: probed before use, never at import time,
and each with a public fallback that gives the same values (the steps match autograd with them)."""

import subprocess
import sys
import textwrap

import pytest
import torch

from aegan.models import (DenseAutoencoder, DenseAutoencoderConfig, GAN, GANConfig, VAEConfig,
                          VariationalAutoencoder)
from aegan.training import fast_gan, private_ops
from test_fast_steps import RMSPROP, SGD, images, run_autoencoder_steps, run_gan_steps, twin_models
from test_fast_steps import float64_default  # noqa: F401 (a fixture)


@pytest.fixture
def fresh_probes():
    probes = private_ops.usable  # (the test may replace it)
    probes.cache_clear()
    yield
    probes.cache_clear()


@pytest.fixture
def no_private_ops(monkeypatch, fresh_probes):
    """As on a PyTorch without the private operators: every probe fails."""
    monkeypatch.setattr(private_ops, "usable", lambda *args, **kwargs: False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_public_fallbacks_give_the_private_operators_values(dtype):
    from aegan.training.fast_dense import SELU_ALPHA, SELU_SCALE

    torch.manual_seed(0)
    x = torch.randn(300, 17, dtype=dtype) * 3
    grad = torch.randn_like(x)
    y = torch.selu(x)
    private = private_ops._private
    # The forms the fast steps use are bit for bit the same.
    assert torch.equal(private_ops.public_elu_backward(grad, SELU_ALPHA, SELU_SCALE, 1.0, True, y),
                       private("elu_backward")(grad, SELU_ALPHA, SELU_SCALE, 1.0, True, y))
    into, expected = grad.clone(), private("elu_backward")(grad, SELU_ALPHA, SELU_SCALE, 1.0, True, y)
    private_ops.public_elu_backward_into(into, SELU_ALPHA, SELU_SCALE, 1.0, True, y, grad_input=into)
    assert torch.equal(into, expected)
    torch.testing.assert_close(private_ops.public_elu_backward(grad, 1.0, 1.0, 1.0, False, x),
                               private("elu_backward")(grad, 1.0, 1.0, 1.0, False, x))
    relu = torch.relu(x)
    assert torch.equal(private_ops.public_threshold_backward(grad, relu, 0),
                       private("threshold_backward")(grad, relu, 0))
    s = torch.sigmoid(x)
    a, b = torch.empty_like(s), torch.empty_like(s)
    private_ops.public_sigmoid_backward_into(grad, s, grad_input=a)
    private("sigmoid_backward_into")(grad, s, grad_input=b)
    assert torch.equal(a, b)
    # Adam (RMSprop as fast_gan runs it: beta1 0, a huge step count) within a rounding.
    states = []
    for update in (private("fused_adam"), private_ops.public_fused_adam):
        param, grads = torch.linspace(-1, 1, 50, dtype=dtype), torch.linspace(0.3, -0.7, 50, dtype=dtype)
        first, second = torch.zeros_like(param), torch.full_like(param, 0.02)
        for beta1, step in ((0.0, 2.0 ** 62), (0.9, 3.0)):
            update([param], [grads], [first], [second], [], [torch.tensor(step)], lr=0.01, beta1=beta1, beta2=0.9,
                   weight_decay=0.0, eps=1e-7, amsgrad=False, maximize=False)
        states.append((param, first, second))
    for a, b in zip(*states):
        torch.testing.assert_close(a, b, rtol=1e-6 if dtype == torch.float32 else 1e-13, atol=1e-7)


def test_probes_find_the_private_operators_here(fresh_probes):
    for name in ("elu_backward", "elu_backward_into", "threshold_backward", "sigmoid_backward_into"):
        assert private_ops.usable(name), name
    assert private_ops.has_fused_adam(torch.zeros(1)) and private_ops.fused_adam(torch.zeros(1)) is torch._fused_adam_
    assert private_ops.elu_backward_into() is torch.ops.aten.elu_backward.grad_input


def test_a_missing_or_wrong_private_operator_is_not_used(monkeypatch, fresh_probes):
    def missing(name):
        raise AttributeError(f"no {name} here")

    monkeypatch.setattr(private_ops, "_private", missing)
    assert not private_ops.usable("elu_backward")
    assert private_ops.elu_backward() is private_ops.public_elu_backward
    assert private_ops.fused_adam(torch.zeros(1)) is private_ops.public_fused_adam
    private_ops.usable.cache_clear()
    monkeypatch.setattr(private_ops, "_private", lambda name: lambda *args, **kwargs: args[0] * 2)  # wrong values
    assert not private_ops.usable("threshold_backward")
    assert private_ops.threshold_backward() is private_ops.public_threshold_backward


@pytest.mark.parametrize("activation", ["selu", "relu"])
def test_fast_dense_matches_autograd_with_the_fallbacks(monkeypatch, no_private_ops, activation):
    spec = images(1, 5, 4)
    plain, fast = twin_models(lambda: DenseAutoencoder(DenseAutoencoderConfig(hidden_sizes=(7,), coding_size=3,
                                                                              activation=activation).for_data(spec)))
    run_autoencoder_steps(plain, fast, SGD, spec, "fast_dense")


def test_fast_vae_matches_autograd_with_the_fallbacks(monkeypatch, no_private_ops):
    spec = images(1, 4, 3)
    plain, fast = twin_models(lambda: VariationalAutoencoder(VAEConfig(hidden_sizes=(6, 5), coding_size=2)
                                                             .for_data(spec)))
    run_autoencoder_steps(plain, fast, RMSPROP, spec, "fast_vae")


def test_fast_gan_matches_autograd_with_the_fallbacks(monkeypatch, no_private_ops, float64_default):
    spec = images(1, 3, 3)
    config = GANConfig(coding_size=3, generator_sizes=(5,), discriminator_sizes=(4,)).for_data(spec)
    plain, fast = twin_models(lambda: GAN(config))
    networks = []
    original = fast_gan._Network.__init__

    def remember(self, *args, **kwargs):
        original(self, *args, **kwargs)
        networks.append(self)

    monkeypatch.setattr(fast_gan._Network, "__init__", remember)
    run_gan_steps(plain, fast, spec, "fast_gan")
    assert networks and not any(network.fused for network in networks)  # RMSprop in public operations


def test_aegan_imports_and_trains_without_the_private_operators(tmp_path):
    """In a fresh interpreter where torch.ops.aten lacks the operators and torch._fused_adam_ is gone."""
    script = textwrap.dedent("""
        import torch

        class Aten:
            hidden = {"elu_backward", "threshold_backward", "sigmoid_backward"}

            def __init__(self, aten):
                self._aten = aten

            def __getattr__(self, name):
                if name in self.hidden:
                    raise AttributeError(f"'_OpNamespace' 'aten' object has no attribute {name!r}")
                return getattr(self._aten, name)

        torch.ops.aten = Aten(torch.ops.aten)
        del torch._fused_adam_

        import aegan
        from aegan.training import fast_conv, fast_dense, fast_gan, fast_steps, fast_vae, private_ops

        assert private_ops.elu_backward_into() is private_ops.public_elu_backward_into
        assert private_ops.threshold_backward() is private_ops.public_threshold_backward
        assert private_ops.sigmoid_backward_into() is private_ops.public_sigmoid_backward_into
        assert private_ops.fused_adam(torch.zeros(1)) is private_ops.public_fused_adam

        from aegan.config import TrainingConfig
        from aegan.data.spec import DataSpec
        from aegan.models import GAN, GANConfig
        from aegan.training.optimizers import build_optimizer
        from aegan.training.replay import ReplayPool

        spec = DataSpec(layout="table", shape=(4,), scaling="none", value_range=(0.0, 1.0))
        model = GAN(GANConfig(coding_size=2, generator_sizes=(3,), discriminator_sizes=(3,)).for_data(spec))
        step, name = fast_steps.select_gan_step(
            model, TrainingConfig(optimizer="rmsprop"),
            build_optimizer("rmsprop", model.discriminator.parameters(), 0.01),
            build_optimizer("rmsprop", model.generator.parameters(), 0.01), ReplayPool(0))
        d_logits, g_logits = step(torch.rand(5, 4), None)
        assert name == "fast_gan" and torch.isfinite(d_logits).all() and d_logits.shape == (10, 1)
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
