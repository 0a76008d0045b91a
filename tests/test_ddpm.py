"""ddpm: the noise schedule, the U-Net, DDPM and DDIM sampling, guidance, and runs that train, resume
and sample from the checkpoint alone."""

import hashlib
import math
import shutil

import numpy as np
import pytest
import torch

import aegan
from aegan.errors import AeganError
from aegan.models.ddpm import DDPM, DDPMConfig, cosine_alpha_bar, noise_schedule
from aegan.models.unet import UNet, timestep_embedding
from test_data_errors_cli import run_cli

QUIET = {"progress": False, "log": lambda message: None}
TINY = {"model.channels": [8, 16], "model.num_timesteps": 40, "model.sample_steps": 4,
        "training.batch_size": 16, "training.num_epochs": 2}


def tiny_model(**changes) -> DDPM:
    config = DDPMConfig(input_shape=(1, 8, 8), channels=(8, 16), num_timesteps=20, sample_steps=5, value_range="unit",
                        **changes)
    torch.manual_seed(0)
    model = DDPM(config)
    with torch.no_grad():  # the output layer starts at zero; give it weights so the samplers have work
        model.denoiser.conv_out.weight.normal_(0, 0.1)
    return model.eval()


def test_the_cosine_schedule_matches_its_formula():
    betas = noise_schedule("cosine", 1000)
    alphas_cumprod = torch.cumprod(1 - betas, 0)
    t = torch.arange(1, 1001, dtype=torch.float64) / 1000
    expected = cosine_alpha_bar(t) / cosine_alpha_bar(torch.zeros((), dtype=torch.float64))
    unclipped = betas < 0.999
    assert unclipped[:-1].all() and not unclipped[-1]  # only the last step is clipped
    torch.testing.assert_close(alphas_cumprod[unclipped], expected[unclipped], rtol=1e-9, atol=1e-12)
    assert betas.min() > 0 and alphas_cumprod[0] > 0.9999 and alphas_cumprod[-1] < 1e-6
    linear = noise_schedule("linear", 1000)
    assert linear[0].item() == pytest.approx(1e-4) and linear[-1].item() == pytest.approx(0.02)


def test_the_time_embedding_is_sinusoidal():
    embedding = timestep_embedding(torch.tensor([0, 7]), 8)
    frequencies = torch.exp(-math.log(10_000) * torch.arange(4) / 4)
    torch.testing.assert_close(embedding[1], torch.cat([torch.cos(7 * frequencies), torch.sin(7 * frequencies)]))
    torch.testing.assert_close(embedding[0], torch.tensor([1.0] * 4 + [0.0] * 4))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 13, 9), (2, 8, 8)])
def test_the_unet_keeps_any_image_shape_and_sees_the_time_step(shape):
    torch.manual_seed(0)
    net = UNet(shape[0], (8, 16, 16), num_classes=3)
    torch.nn.init.normal_(net.conv_out.weight, 0, 0.1)
    x = torch.randn(2, *shape)
    labels = torch.tensor([0, 3])  # 3: "no class"
    out = net(x, torch.tensor([5, 5]), labels)
    assert out.shape == x.shape
    assert not torch.allclose(out, net(x, torch.tensor([900, 900]), labels))
    assert not torch.allclose(out[:1], net(x[:1], torch.tensor([5]), torch.tensor([1])))
    assert any(isinstance(m, torch.nn.MultiheadAttention) or type(m).__name__ == "SelfAttention"
               for m in net.modules())


def test_an_untrained_unet_predicts_zero():
    net = UNet(1, (8, 16))
    assert net(torch.randn(2, 1, 8, 8), torch.tensor([1, 2])).abs().max() == 0


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_a_perfect_prediction_gives_back_the_clean_image(prediction):
    """The conversions from the U-Net's output to (noise, x0) invert the training targets."""
    model = tiny_model(prediction=prediction)
    x0 = torch.rand(3, 1, 8, 8) * 2 - 1
    noise = torch.randn_like(x0)
    step = 13
    t = torch.full((3,), step)
    x_t = model.noisy(x0, t, noise)
    target = model.target(x0, t, noise)
    eps, predicted_x0 = model._predict(x_t, step, None, 1.0, lambda x, t_, labels: target)
    torch.testing.assert_close(predicted_x0, x0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(eps, noise, atol=1e-4, rtol=1e-4)


def test_ddim_with_every_step_and_eta_one_is_ddpm():
    """DDIM's update with eta = 1 over the whole schedule has DDPM's posterior mean and variance:
    with the same noise draws both samplers land on the same images."""
    model = tiny_model()
    noise = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    ddpm = model.ddpm(noise, generator=torch.Generator().manual_seed(2))
    ddim = model.ddim(noise, steps=20, eta=1.0, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(ddim, ddpm, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(ddpm, model.ddpm(noise, generator=torch.Generator().manual_seed(3)))


def test_deterministic_ddim_depends_on_the_noise_only():
    model = tiny_model()
    noise = torch.randn(2, 1, 8, 8)
    first = model.ddim(noise, steps=5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(first, model.ddim(noise, steps=5, generator=torch.Generator().manual_seed(9)))
    assert model.timesteps(5) == [19, 14, 10, 5, 0] and model.timesteps(20) == list(range(19, -1, -1))
    assert first.abs().max() <= 1  # unit-range data: the predicted x0 is clipped to [-1, 1]
    with pytest.raises(AeganError, match="expected 1 to 20"):
        model.timesteps(21)


def test_guidance_mixes_the_conditional_and_unconditional_predictions():
    model = tiny_model(conditional=True, num_classes=3)
    calls = []

    def denoiser(x, t, labels):
        calls.append(labels.tolist())
        return torch.where(labels == 3, 1.0, 2.0).view(-1, 1, 1, 1).expand_as(x)  # null: 1, a class: 2

    x = torch.zeros(2, 1, 8, 8)
    labels = torch.tensor([0, 2])
    eps, _ = model._predict(x, 0, labels, 3.0, denoiser)
    assert calls[-1] == [0, 2, 3, 3]  # one pass: the labels, then "no class"
    # eps = 1 + 3 * (2 - 1) = 4 before clipping x0; clipping changes it, so compare unclipped by hand
    abar = float(model.alphas_cumprod64[0])
    x0 = ((x - math.sqrt(1 - abar) * 4.0) / math.sqrt(abar)).clamp(-1, 1)
    torch.testing.assert_close(eps, (x - math.sqrt(abar) * x0) / math.sqrt(1 - abar))
    model._predict(x, 0, labels, 1.0, denoiser)
    assert calls[-1] == [0, 2]  # guidance 1: the conditional prediction alone


def test_training_drops_labels_at_the_asked_share():
    model = tiny_model(conditional=True, num_classes=3, class_dropout=0.25)
    seen = []
    model.denoiser.forward = lambda x, t, labels: (seen.append(labels), torch.zeros_like(x))[1]
    model.loss_terms(torch.rand(4000, 1, 8, 8), torch.zeros(4000, dtype=torch.long),
                     generator=torch.Generator().manual_seed(0))
    share = (seen[0] == 3).float().mean().item()
    assert 0.22 < share < 0.28 and set(seen[0].tolist()) == {0, 3}


def test_config_errors_are_one_line():
    with pytest.raises(AeganError, match="model.prediction='x0'"):
        DDPMConfig(prediction="x0")
    with pytest.raises(AeganError, match="model.sample_steps=2000"):
        DDPMConfig(sample_steps=2000)
    with pytest.raises(AeganError, match="model.noise_schedule"):
        DDPMConfig(noise_schedule="sigmoid")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "images.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=(rng.random((160, 1, 8, 8)) * 255).astype(np.uint8), labels=rng.integers(0, 3, 160))
    return path


@pytest.fixture(scope="module")
def trained(images, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    plain = aegan.train("ddpm", data=images, out=out / "ddpm", overrides=TINY, **QUIET)
    conditional = aegan.train("cddpm", data=images, out=out / "cddpm", overrides=TINY, **QUIET)
    return plain, conditional


def test_a_run_trains_and_samples_from_its_checkpoint_alone(trained):
    plain, _ = trained
    assert [r["epoch"] for r in plain.metrics()] == [1, 2]
    assert all(np.isfinite(r["loss"]) and r["loss"] < 1.5 for r in plain.metrics())
    assert (plain.path / "samples" / "epoch-0002.png").is_file() and (plain.path / "samples" / "progress.gif").is_file()
    samples = aegan.sample(plain.path, 6, seed=3)
    assert samples.shape == (6, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, aegan.sample(plain.path, 6, seed=3))
    run = aegan.Run(plain.path)
    calls = []
    run.model.denoiser.register_forward_hook(lambda module, inputs, output: calls.append(int(inputs[1][0])))
    aegan.sample(run, 6, seed=3, steps=2)
    assert calls == [39, 0]  # 2 DDIM steps of the 40-step schedule
    calls.clear()
    aegan.sample(run, 6, seed=3)
    assert len(calls) == 4  # the run's model.sample_steps


def test_the_run_samples_from_the_moving_average(trained):
    """training.ema_decay: the checkpoint holds the denoiser's average beside the live weights, and
    a loaded run's denoiser is the average."""
    from aegan.runs import Run
    from aegan.training.checkpoint import load_checkpoint

    plain, _ = trained
    tensors, _ = load_checkpoint(plain.path / "checkpoints")
    live = tensors["model.denoiser.conv_in.weight"]
    average = tensors["extra.ema.module.conv_in.weight"]
    assert not torch.equal(live, average)
    torch.testing.assert_close(Run(plain.path).model.denoiser.conv_in.weight, average)


def test_interpolation_follows_the_sphere_of_the_noise(trained):
    plain, _ = trained
    rows = aegan.interpolate(plain.path, steps=5, pairs=2)
    assert rows.shape == (2, 5, 1, 8, 8) and np.isfinite(rows).all()
    from aegan.sampling import _slerp

    a, b = torch.randn(1, 1000), torch.randn(1, 1000)
    middle = _slerp(a, b, torch.tensor([[0.5]]))
    assert abs(middle.norm() - (a.norm() + b.norm()) / 2) < 0.05 * a.norm()  # a straight line's would be ~0.71x


def test_the_cli_samples_with_steps_labels_and_guidance(trained, tmp_path):
    plain, conditional = trained
    out = tmp_path / "grid.png"
    result = run_cli("sample", conditional.path, "--label", 2, "--guidance", 3, "--steps", 3, "--out", out)
    assert result.returncode == 0, result.stderr
    assert out.is_file()
    guided = aegan.sample(conditional.path, 4, label=1, guidance=3.0)
    assert not np.array_equal(guided, aegan.sample(conditional.path, 4, label=1, guidance=0.0))
    for args, message in ((("--steps", 41), "--steps 41: expected 1 to 40"),
                          (("--guidance", 2), "is not class-conditional")):
        result = run_cli("sample", plain.path, *args)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_steps_and_guidance_are_refused_for_runs_that_sample_in_one_pass(images, tmp_path):
    run = aegan.train("gan", data=images, out=tmp_path / "gan", epochs=1, overrides={"training.batch_size": 16},
                      **QUIET)
    result = run_cli("sample", run.path, "--steps", 10)
    assert result.returncode == 2 and "has no such option; drop --steps" in result.stderr


def test_resumed_from_the_middle_of_an_epoch_the_bytes_equal_an_uninterrupted_run(images, tmp_path):
    overrides = {**TINY, "training.checkpoint_every_steps": 3, "training.keep_checkpoints": 100}
    full = aegan.train("ddpm", data=images, out=tmp_path / "full", overrides=overrides, **QUIET)
    cut = tmp_path / "cut"
    shutil.copytree(full.path, cut)
    for file in (cut / "checkpoints").iterdir():  # as if killed in epoch 2 after its step 6
        if file.name.replace(".safetensors", ".json") > "epoch-0002-step-0000006.json":
            file.unlink()
    aegan.resume(cut, **QUIET)

    def newest(run_dir):
        return hashlib.sha256(sorted((run_dir / "checkpoints").glob("epoch-*.safetensors"))[-1].read_bytes()).digest()

    assert newest(cut) == newest(full.path)
    assert [r["loss"] for r in aegan.Run(cut).metrics()] == [r["loss"] for r in full.metrics()]


def test_the_time_limit_stops_a_diffusion_run(images, tmp_path):
    run = aegan.train("ddpm", data=images, out=tmp_path / "limited",
                      overrides={**TINY, "training.num_epochs": 1000, "training.time_limit_minutes": 0.0005}, **QUIET)
    records = run.metrics()
    assert len(records) == 1 and records[0]["steps"] < 10


def test_what_a_diffusion_run_cannot_do_yet_is_refused_in_one_line(trained, images, tmp_path):
    plain, _ = trained
    result = run_cli("export", plain.path, "--onnx")
    assert result.returncode == 2 and "samples by a loop of denoiser calls" in result.stderr
    result = run_cli("train", "ddpm", "--data", images, "--out", tmp_path / "board", "--set", "training.tensorboard=true")
    assert result.returncode == 2 and "no TensorBoard events yet" in result.stderr
    assert not (tmp_path / "board").exists()
    with pytest.raises(AeganError, match="applies to GANs and diffusion models only"):
        aegan.train("vae", data=images, out=tmp_path / "vae", overrides={"training.ema_decay": 0.99}, **QUIET)


@pytest.mark.parametrize("channels, height, width, scaling", [(1, 28, 28, "divide_255"), (3, 5, 7, "divide_255"),
                                                               (3, 32, 24, "standardize"), (2, 9, 4, "divide_255")])
def test_any_image_data_trains_and_samples_in_its_own_range(channels, height, width, scaling):
    from test_model_shapes import images

    spec = images(channels, height, width, scaling=scaling)
    config = DDPMConfig(channels=(4, 8), num_timesteps=10, sample_steps=3).for_data(spec)
    assert config.value_range == ("unit" if scaling == "divide_255" else "standardized")
    model = DDPM(config)
    with torch.no_grad():  # the output layer starts at zero, which would stop every gradient behind it
        model.denoiser.conv_out.weight.normal_(0, 1)
    x = torch.rand(2, channels, height, width)
    model.loss_terms(x)["loss"].backward()
    assert model.denoiser.conv_in.weight.grad.abs().sum() > 0
    samples = model.sample(3, torch.Generator().manual_seed(0))
    assert samples.shape == (3, channels, height, width)
    if scaling == "divide_255":
        assert 0 <= samples.min() and samples.max() <= 1
    else:  # standardised data is not clipped
        assert samples.abs().max() > 1
    with pytest.raises(AeganError, match="needs class labels"):
        DDPMConfig(conditional=True).for_data(images(1, 8, 8, labels=()))


def test_sampling_in_chunks_gives_the_same_images(monkeypatch):
    import aegan.models.ddpm as ddpm_module

    model = tiny_model()
    whole = model.sample(5, torch.Generator().manual_seed(4))
    calls = []
    model.denoiser.register_forward_hook(lambda module, inputs, output: calls.append(len(inputs[0])))
    monkeypatch.setattr(ddpm_module, "SAMPLE_CHUNK", 2)
    chunked = model.sample(5, torch.Generator().manual_seed(4))
    torch.testing.assert_close(chunked, whole)
    assert calls[:5] == [2] * 5 and calls[-1] == 1  # three chunks of 2, 2 and 1 images, 5 steps each
