"""Each GAN option acts as its paper says: losses, penalties, spectral norm, packing, minibatch
standard deviation, the generator's moving average and differentiable augmentation."""

import math

import pytest
import torch
from torch import nn

from aegan.layers import MinibatchStdDev
from aegan.models.gan import GAN, DCGANConfig, GANConfig
from aegan.training.augment import cutout, diff_augment, translate
from aegan.training.ema import averaged_state, generator_average
from aegan.training.gan_losses import (GAN_LOSSES, discriminator_loss, generator_loss, gradient_penalty,
                                       r1_penalty)


def test_losses_at_known_logits():
    real, fake = torch.tensor([2.0, 3.0]), torch.tensor([-2.0, -1.0])
    assert discriminator_loss("hinge", real, fake).item() == 0.0  # both past their margins
    assert discriminator_loss("hinge", torch.zeros(2), torch.zeros(2)).item() == 2.0
    assert discriminator_loss("least_squares", torch.ones(2), torch.zeros(2)).item() == 0.0
    assert generator_loss("least_squares", torch.zeros(2)).item() == 0.5
    assert discriminator_loss("wasserstein", real, fake).item() == pytest.approx(-4.0)
    assert generator_loss("wasserstein", fake).item() == pytest.approx(1.5)
    assert discriminator_loss("bce", torch.zeros(2), torch.zeros(2)).item() == pytest.approx(math.log(2))
    for kind in GAN_LOSSES:
        assert torch.isfinite(discriminator_loss(kind, real, fake)) and torch.isfinite(generator_loss(kind, fake))
    with pytest.raises(ValueError, match="expected one of"):
        generator_loss("nope", fake)


def test_minimax_saturates_where_the_books_bce_does_not():
    """When D rejects the fakes with confidence (logit -8), the minimax loss gives G almost no
    gradient; the chapter's BCE with fakes labelled 1 (non-saturating) gives it nearly 1."""
    gradients = {}
    for kind in ("bce", "minimax"):
        logits = torch.full((4,), -8.0, requires_grad=True)
        generator_loss(kind, logits).backward()
        gradients[kind] = logits.grad.abs().sum().item()
    assert gradients["bce"] > 0.99 and gradients["minimax"] < 1e-3


def test_the_gradient_penalty_pulls_the_critics_gradient_norm_to_one():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    with torch.no_grad():
        critic[0].weight.mul_(6)
    discriminate = lambda x, labels: critic(x).squeeze(1)  # noqa: E731
    reals, fakes = torch.randn(256, 2) + 2, torch.randn(256, 2) - 2

    def norm_gap():
        x = (reals + torch.rand(256, 1) * (fakes - reals)).requires_grad_(True)
        (grad,) = torch.autograd.grad(discriminate(x, None).sum(), x)
        return (grad.norm(dim=1) - 1).abs().mean().item()

    before = norm_gap()
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-2)
    for _ in range(200):
        optimizer.zero_grad()
        gradient_penalty(discriminate, reals, fakes).backward()
        optimizer.step()
    assert norm_gap() < 0.2 * before


def test_r1_is_half_the_squared_input_gradient_on_reals():
    linear = nn.Linear(5, 1)
    expected = 0.5 * linear.weight.square().sum().item()
    assert r1_penalty(lambda x, labels: linear(x).squeeze(1), torch.randn(8, 5)).item() == pytest.approx(expected)


@pytest.mark.parametrize("config", [GANConfig(input_shape=(1, 8, 8), output_activation="sigmoid", spectral_norm=True),
                                    DCGANConfig(input_shape=(1, 8, 8), output_activation="tanh", spectral_norm=True)])
def test_spectral_norm_holds_every_discriminator_layers_largest_singular_value_at_one(config):
    torch.manual_seed(0)
    gan = GAN(config)
    for _ in range(30):  # each training-mode forward runs one power iteration
        gan.discriminate(torch.rand(4, 1, 8, 8))
    layers = [m for m in gan.discriminator.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert len(layers) >= 3
    for layer in layers:
        assert hasattr(layer, "parametrizations")
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=0.02)
    plain = GAN(dataclass_replace(config, spectral_norm=False))
    assert not any(hasattr(m, "parametrizations") for m in plain.discriminator.modules())


def dataclass_replace(config, **changes):
    import dataclasses

    return dataclasses.replace(config, **changes)


@pytest.mark.parametrize("kind", ["gan", "dcgan"])
def test_packing_widens_the_discriminators_input_and_judges_groups(kind):
    shape = (1, 8, 8)
    config = GANConfig(input_shape=shape, output_activation="sigmoid") if kind == "gan" else \
        DCGANConfig(input_shape=shape, output_activation="tanh")
    first = lambda gan: next(m for m in gan.discriminator.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))  # noqa
    single, packed = GAN(config), GAN(dataclass_replace(config, pack=2))
    width = (lambda m: m.in_features) if kind == "gan" else (lambda m: m.in_channels)
    assert width(first(packed)) == 2 * width(first(single))
    assert packed.discriminate(torch.rand(6, *shape)).shape == (3,)
    assert single.discriminate(torch.rand(6, *shape)).shape == (6,)


def test_minibatch_std_is_zero_for_copies_and_grows_with_spread():
    layer = MinibatchStdDev()
    copies = torch.ones(5, 3)
    assert layer(copies).shape == (5, 4) and layer(copies)[:, -1].abs().max() == 0
    spread = layer(torch.randn(5, 3) * 10)[:, -1]
    assert (spread > 1).all() and (spread == spread[0]).all()
    gan = GAN(GANConfig(input_shape=(1, 8, 8), output_activation="sigmoid", minibatch_std=True))
    assert gan.discriminator.output.in_features == gan.config.discriminator_sizes[-1] + 1


def test_the_generators_average_lags_the_live_weights():
    torch.manual_seed(0)
    generator = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    start = {k: v.clone() for k, v in generator.state_dict().items()}
    average = generator_average(generator, decay=0.9)
    optimizer = torch.optim.SGD(generator.parameters(), lr=0.1)
    for _ in range(10):
        optimizer.zero_grad()
        generator(torch.randn(8, 3)).square().mean().backward()
        optimizer.step()
        average.update_parameters(generator)
    averaged, live = averaged_state(average), generator.state_dict()
    assert set(averaged) == set(live)
    moved_live = (live["0.weight"] - start["0.weight"]).norm()
    moved_average = (averaged["0.weight"] - start["0.weight"]).norm()
    assert 0 < moved_average < moved_live  # it differs from the live weights and trails them
    assert not torch.equal(averaged["1.running_mean"], live["1.running_mean"])  # buffers averaged too


def test_an_averaged_batch_norm_generator_samples_with_statistics_of_its_own_weights():
    import copy

    from aegan.training.ema import STANDING_BATCHES, standing_statistics

    torch.manual_seed(0)
    model = GAN(DCGANConfig(coding_size=4, generator_channels=(6, 3), discriminator_channels=(2, 2),
                            input_shape=(1, 8, 8), output_activation="tanh"))
    average = generator_average(model.generator, decay=0.5)
    with torch.no_grad():  # live weights and statistics that have moved on since the average began
        for parameter in model.generator.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
        model.generator.train()
        model.generate(3 * torch.randn(64, 4))
    average.update_parameters(model.generator)
    live_statistics = {k: v.clone() for k, v in model.generator.state_dict().items() if "running" in k}
    network = copy.deepcopy(average.module)
    by_hand = copy.deepcopy(network).train()
    means = {name: [] for name, module in by_hand.named_modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)}
    for name, module in by_hand.named_modules():
        if name in means:
            module.register_forward_pre_hook(lambda m, inputs, name=name: means[name].append(
                inputs[0].transpose(0, 1).flatten(1).mean(1)))
    draws = torch.Generator().manual_seed(0)
    codings = [torch.randn(5, 4, generator=draws) for _ in range(STANDING_BATCHES)]
    with torch.no_grad():
        for batch in codings:
            model.generate(batch, None, by_hand)
    assert standing_statistics(model, network, batch_size=5) and not network.training
    state = network.state_dict()
    for name, batch_means in means.items():  # momentum None: the mean over the batches' means
        torch.testing.assert_close(state[f"{name}.running_mean"], torch.stack(batch_means).mean(0))
        assert not torch.allclose(state[f"{name}.running_mean"], average.module.state_dict()[f"{name}.running_mean"])
    for key, value in live_statistics.items():  # the live generator's statistics are left alone
        assert torch.equal(model.generator.state_dict()[key], value)
    dense = GAN(GANConfig(coding_size=2, generator_sizes=(4,), discriminator_sizes=(4,), input_shape=(1, 2, 2),
                          output_activation="sigmoid"))
    assert not standing_statistics(dense, dense.generator, batch_size=5)  # no batch norm: nothing to do


def test_diff_augment_translates_cuts_out_and_lets_gradients_through():
    torch.manual_seed(0)
    images = torch.rand(16, 2, 8, 8) + 1  # no zeros of their own
    shifted = translate(images)
    assert shifted.shape == images.shape
    zero_rows = (shifted == 0).all(dim=(1, 3)).sum().item() + (shifted == 0).all(dim=(1, 2)).sum().item()
    assert 0 < zero_rows  # some images moved, leaving zero borders
    assert torch.isin(shifted[shifted != 0], images).all()  # pixels are moved, not changed
    holed = cutout(images)
    assert ((holed == 0).sum(dim=(2, 3)) == 16).all()  # a 4x4 square per image and channel
    images.requires_grad_(True)
    diff_augment(images, ("translation", "cutout")).sum().backward()
    assert images.grad.sum() > 0
    with pytest.raises(ValueError, match="expected one of"):
        diff_augment(images, ("flip",))


QUIET = {"progress": False, "log": lambda message: None}


@pytest.fixture(scope="module")
def tiny_images(tmp_path_factory):
    import numpy as np

    path = tmp_path_factory.mktemp("gan-options") / "images.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=(rng.random((96, 1, 8, 8)) * 255).astype(np.uint8), y=np.arange(96) % 3)
    return path


@pytest.mark.parametrize("preset,overrides", [
    ("gan", {"training.gan_loss": "hinge", "model.spectral_norm": True}),
    ("gan", {"training.gan_loss": "least_squares", "model.minibatch_std": True, "training.r1_penalty": 1.0}),
    ("dcgan", {"training.gan_loss": "wasserstein", "training.gradient_penalty": 10.0, "training.critic_steps": 2,
               "training.optimizer": "adam", "training.betas": [0.0, 0.9]}),
    ("dcgan", {"model.pack": 2, "training.augment": ["translation", "cutout"],
               "training.generator_learning_rate": 0.002, "training.discriminator_learning_rate": 0.0005}),
    ("cgan", {"training.gan_loss": "hinge", "training.ema_decay": 0.9, "model.pack": 2}),
])
def test_every_option_trains_any_gan_through_the_general_step(tiny_images, tmp_path, preset, overrides):
    import json

    import numpy as np

    import aegan

    run = aegan.train(preset, data=tiny_images, out=tmp_path / "run", epochs=2, batch_size=16,
                      overrides=overrides, **QUIET)
    assert json.loads((run.path / "run.json").read_text())["training_steps"] == ["autograd"]
    records = run.metrics()
    assert len(records) == 2 and all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in records)
    assert np.isfinite(aegan.sample(run, 4, seed=0)).all()
    optimizers = json.loads(sorted((run.path / "checkpoints").glob("epoch-*.json"))[-1].read_text())
    rates = {name: optimizers[name]["param_groups"][0]["lr"] for name in ("optimizer_d", "optimizer_g")}
    if "training.generator_learning_rate" in overrides:  # two time-scales
        assert rates == {"optimizer_d": 0.0005, "optimizer_g": 0.002}
    if "training.betas" in overrides:
        assert optimizers["optimizer_d"]["param_groups"][0]["betas"] == [0.0, 0.9]


def test_the_moving_average_is_saved_sampled_from_and_resumed(tiny_images, tmp_path):
    import shutil

    from safetensors.torch import load_file

    import aegan
    from aegan.runs import Run

    overrides = {"training.ema_decay": 0.8, "training.checkpoint_every_steps": 3, "training.keep_checkpoints": 50}
    full = aegan.train("gan", data=tiny_images, out=tmp_path / "full", epochs=3, batch_size=16, overrides=overrides,
                       **QUIET)
    tensors = load_file(sorted((full.path / "checkpoints").glob("epoch-0003.safetensors"))[0])
    average = {k[len("extra.ema.module."):]: v for k, v in tensors.items() if k.startswith("extra.ema.module.")}
    live = {k[len("model.generator."):]: v for k, v in tensors.items() if k.startswith("model.generator.")}
    assert set(average) == set(live) and any(not torch.equal(average[k], live[k]) for k in live)
    loaded = Run(full.path).model.generator.state_dict()
    assert all(torch.equal(loaded[k], average[k]) for k in average)  # samples come from the average
    cut = tmp_path / "cut"
    shutil.copytree(full.path, cut)
    for file in (cut / "checkpoints").iterdir():
        if file.name.replace(".safetensors", ".json") > "epoch-0002-step-0000003.json":
            file.unlink()
    aegan.resume(cut, **QUIET)
    newest = lambda run: sorted((run / "checkpoints").glob("epoch-*.safetensors"))[-1].read_bytes()  # noqa: E731
    assert newest(cut) == newest(full.path)


def test_a_runs_averaged_dcgan_samples_with_standing_statistics(tiny_images, tmp_path):
    from safetensors.torch import load_file

    import aegan
    from aegan.runs import Run

    run = aegan.train("dcgan", data=tiny_images, out=tmp_path / "run", epochs=1, batch_size=16,
                      overrides={"training.ema_decay": 0.5}, **QUIET)
    tensors = load_file(sorted((run.path / "checkpoints").glob("epoch-*.safetensors"))[-1])
    loaded = Run(run.path).model.generator.state_dict()
    averaged = {k[len("extra.ema.module."):]: v for k, v in tensors.items() if k.startswith("extra.ema.module.")}
    weights = [k for k in averaged if "running" not in k and "num_batches" not in k]
    assert weights and all(torch.equal(loaded[k], averaged[k]) for k in weights)  # the average's weights
    statistics = [k for k in averaged if k.endswith("running_mean")]
    assert statistics and all(not torch.equal(loaded[k], averaged[k]) for k in statistics)  # measured again
    assert torch.equal(Run(run.path).model.generator.state_dict()[statistics[0]], loaded[statistics[0]])  # fixed draws


@pytest.mark.parametrize("override,message", [
    ("training.gan_loss=wgan", "training.gan_loss='wgan': expected one of bce, minimax"),
    ("training.augment=['flip']", "training.augment='flip'"),
    ("training.critic_steps=0", "training.critic_steps=0: expected 1 or more"),
    ("training.ema_decay=1", "training.ema_decay=1.0: expected 0 (off) <= ema_decay < 1"),
    ("training.betas=[0.5]", "training.betas=[0.5]: expected two numbers"),
    ("model.pack=0", "model.pack=0: expected a whole number >= 1"),
])
def test_bad_gan_options_are_one_line_before_any_folder(tiny_images, tmp_path, override, message):
    from test_data_errors_cli import run_cli

    result = run_cli("train", "gan", "--data", tiny_images, "--out", tmp_path / "run", "--set", override)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_time_limit_ends_training_within_an_epoch(tmp_path):
    import numpy as np

    import aegan
    from test_data_errors_cli import run_cli

    data = tmp_path / "images.npy"
    np.save(data, (np.random.default_rng(0).random((3000, 1, 8, 8)) * 255).astype(np.uint8))
    run = aegan.train("gan", data=data, out=tmp_path / "run", epochs=50, batch_size=8,
                      overrides={"training.time_limit_minutes": 0.01, "training.fast_path": False}, **QUIET)
    (last,) = run.metrics()[-1:]
    assert len(run.metrics()) < 50 and 0 < last.get("steps", 375) <= 375
    assert sum(record["seconds"] for record in run.metrics()) < 5
    assert run.epoch == len(run.metrics()) and np.isfinite(aegan.sample(run, 2)).all()
    result = run_cli("train", "stacked_ae", "--data", data, "--out", tmp_path / "ae",
                     "--set", "training.time_limit_minutes=1")
    assert result.returncode == 2 and "applies to GANs and diffusion models only" in result.stderr
