"""progan: the growing schedule and its fade-in, equalised learning rate, pixelwise normalisation,
and runs that grow, resume in the middle of a phase and sample from the checkpoint alone."""

import hashlib
import math
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import aegan
from aegan.errors import AeganError
from aegan.layers import EqualizedConv2d, EqualizedLinear, pixel_norm
from aegan.models.progan import ProGAN, ProGANConfig

QUIET = {"progress": False, "log": lambda message: None}


def model_for(shape=(1, 28, 28), per=100) -> ProGAN:
    torch.manual_seed(0)
    config = ProGANConfig(input_shape=shape, coding_size=8, channels=(8, 8, 8, 4), images_per_phase=per,
                          output_activation="tanh")
    return ProGAN(config).eval()


def test_the_fade_in_weight_rises_from_zero_to_one_across_a_phase():
    model = model_for(per=100)
    assert model.levels == 4 and model.side == 32
    assert model.phase(0) == (0, 1.0) and model.phase(99) == (0, 1.0)  # 4x4 alone
    fade = [model.phase(seen) for seen in range(100, 200, 10)]
    assert [level for level, _ in fade] == [1] * 10
    alphas = [alpha for _, alpha in fade]
    assert alphas[0] == 0.0 and alphas == sorted(alphas) and alphas[-1] == pytest.approx(0.9)
    assert model.phase(200) == (1, 1.0) and model.phase(299) == (1, 1.0)  # 8x8 alone
    assert model.phase(300) == (2, 0.0) and model.phase(350) == (2, 0.5)
    assert model.phase(10**9) == (3, 1.0)  # fully grown, for good


def test_at_the_start_of_a_fade_in_the_new_block_changes_nothing():
    """alpha = 0: the generator's output is the smaller size's, upsampled; the discriminator's
    logit is the smaller size's on the averaged-down image."""
    model = model_for(per=100)
    codings = torch.randn(4, 8)
    model.images_seen.fill_(150)  # level 1, alpha 0.5: the new block shows
    halfway = model.generate(codings)
    model.images_seen.fill_(100)  # level 1, alpha 0
    grown = model.generate(codings)
    model.images_seen.fill_(99)  # level 0
    small = model.generate(codings)
    torch.testing.assert_close(grown, small)
    assert not torch.allclose(halfway, small)
    images = torch.rand(4, 1, 28, 28) * 2 - 1
    model.images_seen.fill_(100)
    logits_grown = model.discriminate(images)
    model.images_seen.fill_(99)
    torch.testing.assert_close(logits_grown, model.discriminate(images))
    assert grown.shape == (4, 1, 28, 28)


def test_equalized_layers_scale_their_weights_at_run_time():
    torch.manual_seed(0)
    conv = EqualizedConv2d(16, 32, 3)
    assert abs(conv.weight.std().item() - 1) < 0.05  # stored at unit variance
    x = torch.randn(2, 16, 5, 5)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * math.sqrt(2 / (16 * 9)), conv.bias, padding=1))
    dense = EqualizedLinear(50, 3)
    torch.testing.assert_close(dense(torch.ones(1, 50)), (dense.weight.sum(1) * math.sqrt(2 / 50))[None])
    # the same step on the stored weight moves the effective weight by scale times as much
    before = conv.weight.detach() * conv.scale
    with torch.no_grad():
        conv.weight.add_(0.1)
    torch.testing.assert_close(conv.weight.detach() * conv.scale - before, torch.full_like(before, 0.1 * conv.scale))


def test_pixel_norm_gives_each_pixel_unit_rms():
    x = torch.randn(3, 16, 4, 4) * 7
    torch.testing.assert_close(pixel_norm(x).square().mean(dim=1), torch.ones(3, 4, 4), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(3, 8, 8), (1, 5, 7), (2, 16, 16)])
def test_any_image_size_grows_to_its_own_shape(shape):
    model = model_for(shape, per=10)
    model.images_seen.fill_(10**6)
    assert model.generate(torch.randn(2, 8)).shape == (2, *shape)
    assert model.discriminate(torch.randn(2, *shape)).shape == (2,)


def test_config_errors_are_one_line():
    with pytest.raises(AeganError, match="need 4 sizes from 4x4"):
        ProGANConfig(input_shape=(1, 28, 28), channels=(8, 8))
    with pytest.raises(AeganError, match="images of 4x4 or more"):
        ProGANConfig(input_shape=(1, 3, 3))
    with pytest.raises(AeganError, match="progan is unconditional"):
        ProGANConfig(conditional=True)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "images.npy"
    np.save(path, (np.random.default_rng(0).random((160, 1, 8, 8)) * 255).astype(np.uint8))
    return path


TINY = {"model.channels": [8, 8], "model.coding_size": 8, "model.images_per_phase": 64, "training.batch_size": 16,
        "training.num_epochs": 3}


def test_a_run_grows_while_it_trains_and_samples_from_its_checkpoint(images, tmp_path):
    run = aegan.train("progan", data=images, out=tmp_path / "run", overrides=TINY, **QUIET)
    model = aegan.Run(run.path).model
    assert int(model.images_seen) == 3 * 8 * 16  # 3 epochs of 8 whole batches (128 training images)
    assert model.phase() == (1, 1.0)  # 64 at 4x4, 64 fading 8x8 in, then 8x8 alone
    samples = aegan.sample(run.path, 5)
    assert samples.shape == (5, 1, 8, 8) and 0 <= samples.min() and samples.max() <= 1
    assert len(run.metrics()) == 3 and all(np.isfinite(r["d_loss"]) for r in run.metrics())


def test_resumed_in_the_middle_of_a_phase_the_bytes_equal_an_uninterrupted_run(images, tmp_path):
    overrides = {**TINY, "training.checkpoint_every_steps": 3, "training.keep_checkpoints": 100}
    full = aegan.train("progan", data=images, out=tmp_path / "full", overrides=overrides, **QUIET)
    cut = tmp_path / "cut"
    shutil.copytree(full.path, cut)
    for file in (cut / "checkpoints").iterdir():  # killed in epoch 1 after step 6: 96 images, mid fade-in
        if file.name.replace(".safetensors", ".json") > "epoch-0001-step-0000006.json":
            file.unlink()
    assert aegan.Run(cut).model.phase() == (1, pytest.approx(0.5))
    aegan.resume(cut, **QUIET)

    def newest(run_dir):
        return hashlib.sha256(sorted((run_dir / "checkpoints").glob("epoch-*.safetensors"))[-1].read_bytes()).digest()

    assert newest(cut) == newest(full.path)
