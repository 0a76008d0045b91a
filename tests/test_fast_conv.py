"""training/fast_conv.py must train the conv autoencoder and the DCGAN as the plain autograd steps do.

float64 comparisons are tight (the fast steps change only the order of sums); float32 ones
allow for rounding. Checkpoints of fast and plain runs must agree and restore the same.
"""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from aegan.config import load_config as load_unresolved_config
from aegan.data.batches import Batches
from aegan.data.fashion_mnist import fashion_mnist_spec
from aegan.models import build_model
from aegan.training import fast_conv
from aegan.training.autoencoder import train_autoencoder
from aegan.training.checkpoint import load_checkpoint, restore
from aegan.training.fast_steps import select_autoencoder_step
from aegan.training.gan import train_gan
from aegan.training.gan_step import make_gan_step
from aegan.training.optimizers import build_optimizer
from aegan.training.replay import ReplayPool

FASHION = fashion_mnist_spec()


def load_config(preset, overrides=None, spec=FASHION):
    """The preset's run config with its model resolved for `spec` (Fashion-MNIST by default)."""
    config = load_unresolved_config(preset, overrides)
    return dataclasses.replace(config, model=config.model.for_data(spec))


def make_train_step(model, training, optimizer):
    return select_autoencoder_step(model, training, optimizer)[0]


@pytest.fixture
def float64_default():
    """Both GAN steps draw codings with torch.randn, in the default dtype."""
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def conv_ae_pair(fast_overrides=None, dtype=torch.float64):
    """Two equal conv autoencoders and their train steps: (plain, fast)."""
    steps, models = [], []
    torch.manual_seed(0)
    initial = build_model(load_config("conv_ae").model).state_dict()
    for fast in (False, True):
        config = load_config("conv_ae", {"training.fast_path": fast, **(fast_overrides or {})})
        model = build_model(config.model).to(dtype)
        model.load_state_dict(initial)
        optimizer = build_optimizer("sgd", model.parameters(), 0.5, momentum=0.9)
        steps.append(make_train_step(model, config.training, optimizer))
        models.append((model, optimizer))
    return steps, models


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-10), (torch.float32, 2e-5)])
def test_conv_autoencoder_fast_step_matches_the_plain_step(dtype, tolerance):
    (plain_step, fast_step), ((plain, plain_optimizer), (fast, fast_optimizer)) = conv_ae_pair(dtype=dtype)
    assert fast.encoder[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain.encoder[3].weight.is_contiguous(memory_format=torch.channels_last)
    torch.manual_seed(1)
    for batch in torch.rand(3, 8, 1, 28, 28, dtype=dtype):
        assert fast_step(batch).item() == pytest.approx(plain_step(batch).item(), rel=tolerance)
    for (name, a), b in zip(plain.state_dict().items(), fast.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=tolerance, atol=tolerance, msg=name)
    # Momentum buffers live in the torch optimizer, as on the plain path.
    for a, b in zip(plain_optimizer.state_dict()["state"].values(), fast_optimizer.state_dict()["state"].values()):
        torch.testing.assert_close(b["momentum_buffer"], a["momentum_buffer"], rtol=tolerance, atol=tolerance)


def test_conv_autoencoder_fast_step_draws_the_same_input_noise():
    overrides = {"model.input_noise": "dropout", "model.noise_level": 0.3}
    (plain_step, fast_step), ((plain, _), (fast, _)) = conv_ae_pair(overrides)
    batch = torch.rand(8, 1, 28, 28, dtype=torch.float64)
    torch.manual_seed(2)
    plain_loss = plain_step(batch).item()
    torch.manual_seed(2)
    assert fast_step(batch).item() == pytest.approx(plain_loss, rel=1e-10)
    for a, b in zip(plain.parameters(), fast.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10)


def test_fast_path_off_or_unsupported_gives_the_plain_step():
    config = load_config("conv_ae", {"training.fast_path": False})
    model = build_model(config.model)
    assert not fast_conv.supports_autoencoder(model, config.training)
    make_train_step(model, config.training, build_optimizer("sgd", model.parameters(), 1.0))
    assert model.encoder[3].weight.is_contiguous()  # not converted to channels-last
    dcgan = load_config("dcgan", {"training.fast_path": False})
    assert not fast_conv.supports_gan(build_model(dcgan.model), dcgan.training)
    conditional = load_config("dcgan", {"model.conditional": True})
    assert not fast_conv.supports_gan(build_model(conditional.model), conditional.training)
    assert fast_conv.supports_gan(build_model(load_config("dcgan").model), load_config("dcgan").training)


@pytest.mark.parametrize("kernel, stride, padding, output_padding",
                         [(5, 2, 2, 1), (3, 2, 1, 1), (3, 1, 1, 0), (4, 3, 0, 2)])
def test_plane_convolutions_match_torch(kernel, stride, padding, output_padding):
    torch.manual_seed(0)
    options = {"dtype": torch.float64, "requires_grad": True}
    x, bias = torch.randn(3, 1, 11, 11, **options), torch.randn(4, **options)
    weight = torch.randn(4, 1, kernel, kernel, **options)
    expected = F.conv2d(x, weight, bias, stride, padding)
    actual = fast_conv.PlaneConv2d.apply(x, weight, bias, stride, padding)
    grad = torch.randn_like(expected)
    torch.testing.assert_close(actual, expected)
    for a, b in zip(torch.autograd.grad(actual, (x, weight, bias), grad),
                    torch.autograd.grad(expected, (x, weight, bias), grad)):
        torch.testing.assert_close(a, b)

    h, bias_t = torch.randn(3, 4, 6, 6, **options), torch.randn(1, **options)
    weight_t = torch.randn(4, 1, kernel, kernel, **options)
    expected = F.conv_transpose2d(h, weight_t, bias_t, stride, padding, output_padding)
    actual = fast_conv.PlaneConvTranspose2d.apply(h, weight_t, bias_t, stride, padding, output_padding)
    grad = torch.randn_like(expected)
    torch.testing.assert_close(actual, expected)
    for a, b in zip(torch.autograd.grad(actual, (h, weight_t, bias_t), grad),
                    torch.autograd.grad(expected, (h, weight_t, bias_t), grad)):
        torch.testing.assert_close(a, b)


def test_plane_convolutions_pass_gradcheck():
    torch.manual_seed(0)
    options = {"dtype": torch.float64, "requires_grad": True}
    x, weight, bias = torch.randn(2, 1, 7, 7, **options), torch.randn(3, 1, 3, 3, **options), torch.randn(3, **options)
    assert torch.autograd.gradcheck(lambda *a: fast_conv.PlaneConv2d.apply(*a, 2, 1), (x, weight, bias))
    h, weight_t = torch.randn(2, 3, 4, 4, **options), torch.randn(3, 1, 3, 3, **options)
    bias_t = torch.randn(1, **options)
    assert torch.autograd.gradcheck(lambda *a: fast_conv.PlaneConvTranspose2d.apply(*a, 2, 1, 1),
                                    (h, weight_t, bias_t))


def test_dcgan_fast_step_matches_the_plain_step(float64_default):
    torch.manual_seed(0)
    plain = build_model(load_config("dcgan").model)
    fast = build_model(load_config("dcgan").model)
    fast.load_state_dict(plain.state_dict())
    steps = {}
    for name, model, maker in (("plain", plain, make_gan_step), ("fast", fast, fast_conv.make_dcgan_step)):
        optimizer_d = build_optimizer("rmsprop", model.discriminator.parameters(), 0.001)
        optimizer_g = build_optimizer("rmsprop", model.generator.parameters(), 0.001)
        replay = ReplayPool(2, 0.5, torch.Generator().manual_seed(3))
        steps[name] = (maker(model, optimizer_d, optimizer_g, replay), optimizer_d, optimizer_g)
    real = torch.rand(3, 8, 1, 28, 28) * 2 - 1
    for index, batch in enumerate(real):
        results = {}
        for name in ("plain", "fast"):
            torch.manual_seed(10 + index)  # the same codings and dropout masks
            results[name] = steps[name][0](batch, None)  # D's logits in phase 1 and in phase 2
        for fast_logits, plain_logits in zip(results["fast"], results["plain"]):
            torch.testing.assert_close(fast_logits, plain_logits, rtol=1e-9, atol=1e-12)
    for (name, a), b in zip(plain.state_dict().items(), fast.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-11, msg=name)
    for index in (1, 2):
        for a, b in zip(steps["plain"][index].state_dict()["state"].values(),
                        steps["fast"][index].state_dict()["state"].values()):
            torch.testing.assert_close(b["square_avg"], a["square_avg"], rtol=1e-9, atol=1e-15)


def trained_runs(tmp_path, preset):
    """One epoch of `preset` on 64 random images, plain and fast (float64), in tmp_path/plain and /fast."""
    torch.manual_seed(0)
    images = torch.rand(64, 1, 28, 28)
    models = {}
    for name in ("plain", "fast"):
        config = load_config(preset, {"training.fast_path": name == "fast", "training.num_epochs": 1})
        torch.manual_seed(1)
        model = build_model(config.model)
        run_dir = tmp_path / name
        run_dir.mkdir()
        shuffle = torch.Generator().manual_seed(2)
        if preset == "conv_ae":
            train_autoencoder(model, config, images, images[:16], run_dir, shuffle, progress=False,
                              log=lambda m: None)
        else:
            train_gan(model, config, Batches(images, None), run_dir, shuffle, progress=False, log=lambda m: None)
        models[name] = (model, config)
    return models


@pytest.mark.parametrize("preset", ["conv_ae", "dcgan"])
def test_checkpoints_of_fast_and_plain_runs_agree_and_restore(tmp_path, preset, float64_default):
    models = trained_runs(tmp_path, preset)
    (plain_tensors, plain_state), (fast_tensors, fast_state) = (load_checkpoint(tmp_path / name / "checkpoints")
                                                                for name in ("plain", "fast"))
    assert plain_tensors.keys() == fast_tensors.keys()
    for key, tensor in plain_tensors.items():
        if not key.startswith("rng."):
            torch.testing.assert_close(fast_tensors[key], tensor, rtol=1e-9, atol=1e-11, msg=key)
    optimizer_names = ("optimizer",) if preset == "conv_ae" else ("optimizer_d", "optimizer_g")
    for name in optimizer_names:
        assert fast_state[name] == plain_state[name]
    # The fast run's checkpoint restores its (channels-last) model exactly.
    fast_model, config = models["fast"]
    fresh = build_model(config.model)
    if preset == "conv_ae":
        optimizers = build_optimizer("sgd", fresh.parameters(), config.training.learning_rate)
    else:
        optimizers = {name: build_optimizer("rmsprop", part.parameters(), config.training.learning_rate)
                      for name, part in (("optimizer_d", fresh.discriminator), ("optimizer_g", fresh.generator))}
    restore(fast_tensors, fast_state, fresh, optimizers)
    for (name, a), b in zip(fast_model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name


def test_conv_autoencoder_fast_path_trains_as_the_plain_path_on_real_data(fashion):
    """100 float32 steps on real images (many exact ties in the pooling windows)."""
    from aegan.runs import images_to_tensor
    from aegan.training.autoencoder import run_epoch

    images = images_to_tensor(fashion.train_images[:3200]).unsqueeze(1)
    results = []
    for fast in (True, False):
        config = load_config("conv_ae", {"training.fast_path": fast})
        torch.manual_seed(0)
        model = build_model(config.model)
        step = make_train_step(model, config.training, build_optimizer("sgd", model.parameters(), 1.0))
        loss = run_epoch(step, images, 32, torch.Generator().manual_seed(0)).item() / images.numel()
        results.append((loss, model.state_dict()))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-4)
    for name, tensor in results[0][1].items():
        torch.testing.assert_close(tensor, results[1][1][name], rtol=1e-3, atol=1e-3)


def test_dropout_draws_torchs_mask_and_random_state():
    if not fast_conv.reproduces_torch_dropout():
        pytest.skip("torch draws dropout masks another way here (MKL's bernoulli); the fast path uses F.dropout")
    for shape, p, dtype in (((32, 64, 14, 14), 0.4, torch.float32), ((5, 7), 0.1, torch.float64)):
        x = torch.randn(shape, dtype=dtype)
        torch.manual_seed(3)
        expected, expected_state = F.dropout(x, p, training=True), torch.get_rng_state()
        torch.manual_seed(3)
        assert torch.equal(fast_conv.dropout(x, p), expected)
        assert torch.equal(torch.get_rng_state(), expected_state)


def test_dcgan_fast_step_falls_back_to_torchs_dropout(monkeypatch, float64_default):
    """Where dropout() does not reproduce torch's masks, the step still matches the plain one."""
    monkeypatch.setattr(fast_conv, "reproduces_torch_dropout", lambda: False)
    monkeypatch.setattr(fast_conv, "dropout", None)  # must not be called
    test_dcgan_fast_step_matches_the_plain_step(None)
