"""The hand-derived GAN step must match the autograd two-phase step (float64, same random numbers)."""

import pytest
import torch

from aegan.models import GAN, GANConfig
from aegan.training.fast_gan import make_fast_gan_step
from aegan.training.gan_step import make_gan_step
from aegan.training.optimizers import build_optimizer
from aegan.training.replay import ReplayPool


def test_fast_gan_step_matches_autograd():
    config = GANConfig(input_shape=(4, 5), coding_size=3, generator_sizes=(6, 7), discriminator_sizes=(7, 5),
                       output_activation="sigmoid")
    torch.manual_seed(0)
    plain = GAN(config).double()
    fast = GAN(config).double()
    fast.load_state_dict(plain.state_dict())
    steps, pools = {}, {}
    for name, model, maker in (("plain", plain, make_gan_step), ("fast", fast, make_fast_gan_step)):
        optimizer_d = build_optimizer("rmsprop", model.discriminator.parameters(), 0.01)
        optimizer_g = build_optimizer("rmsprop", model.generator.parameters(), 0.01)
        pools[name] = ReplayPool(2, 0.5)
        steps[name] = (maker(model, optimizer_d, optimizer_g, pools[name]), optimizer_d)
    real = torch.rand(6, 6, 4, 5, dtype=torch.float64)
    torch.set_default_dtype(torch.float64)  # both steps draw codings with torch.randn
    try:
        for batch in real:
            results = {}
            for name in ("plain", "fast"):
                torch.manual_seed(1)
                results[name] = steps[name][0](batch, None)
            for plain_logits, fast_logits in zip(results["plain"], results["fast"]):
                torch.testing.assert_close(fast_logits.flatten(), plain_logits.flatten(), rtol=1e-9, atol=1e-11)
    finally:
        torch.set_default_dtype(torch.float32)
    assert pools["fast"].replayed == pools["plain"].replayed > 0  # pooled fakes reached D in both
    for (name, a), b in zip(plain.state_dict().items(), fast.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11, msg=name)
    # The optimizer state is the optimizer's own, so checkpoints hold it.
    state = steps["fast"][1].state_dict()["state"]
    assert len(state) == 6 and all(s["step"].item() == 6 for s in state.values())


def test_epoch_metrics_are_the_mean_losses_and_accuracies_of_the_steps():
    """Losses as BCE means (D's the mean of its real and fake halves), accuracies as thresholded logits."""
    import torch.nn.functional as F

    from aegan.training.gan import epoch_metrics

    torch.manual_seed(0)
    steps = [(torch.randn(6, 1), torch.randn(3, 1)) for _ in range(4)]
    metrics = epoch_metrics(steps)
    d_losses = [0.5 * (F.binary_cross_entropy_with_logits(d[:3], torch.ones(3, 1))
                       + F.binary_cross_entropy_with_logits(d[3:], torch.zeros(3, 1))) for d, _ in steps]
    g_losses = [F.binary_cross_entropy_with_logits(g, torch.ones(3, 1)) for _, g in steps]
    assert metrics["d_loss"] == pytest.approx(torch.stack(d_losses).mean().item(), rel=1e-6)
    assert metrics["g_loss"] == pytest.approx(torch.stack(g_losses).mean().item(), rel=1e-6)
    assert metrics["d_accuracy_real"] == sum((d[:3] > 0).sum().item() for d, _ in steps) / 12
    assert metrics["d_accuracy_fake"] == sum((d[3:] < 0).sum().item() for d, _ in steps) / 12


def test_fused_rmsprop_matches_torch_rmsprop():
    """The one-kernel RMSprop (Adam with beta1=0, no bias correction) against torch.optim.RMSprop."""
    from torch import nn

    from aegan.training.fast_gan import _Network

    for dtype, tolerance in ((torch.float64, 1e-14), (torch.float32, 1e-6)):  # within a rounding or two
        torch.manual_seed(0)
        layers = [nn.Linear(5, 4).to(dtype), nn.Linear(4, 3).to(dtype)]
        reference = [nn.Linear(5, 4).to(dtype), nn.Linear(4, 3).to(dtype)]
        for a, b in zip(reference, layers):
            a.load_state_dict(b.state_dict())
        optimizer = build_optimizer("rmsprop", [p for m in layers for p in m.parameters()], 0.01)
        torch_optimizer = build_optimizer("rmsprop", [p for m in reference for p in m.parameters()], 0.01)
        network = _Network(layers, optimizer)
        assert network.fused  # PyTorch >= 2.4 has the CPU kernel
        for _ in range(5):
            grads = [torch.randn_like(p) for m in reference for p in m.parameters()]
            for p, g in zip((p for m in reference for p in m.parameters()), grads):
                p.grad = g.clone()
            torch_optimizer.step()
            for buffer, g in zip(network.grads, grads):
                buffer.copy_(g)
            network.rmsprop_()
        for a, b in zip(reference, layers):
            torch.testing.assert_close(b.weight, a.weight, rtol=tolerance, atol=tolerance)
            torch.testing.assert_close(b.bias, a.bias, rtol=tolerance, atol=tolerance)
        assert optimizer.state[layers[0].weight]["step"].item() == 5
