"""GANs: the two-phase step, experience replay, minibatch discrimination, conditional sampling."""

import numpy as np
import pytest
import torch

import aegan
from aegan.data.fashion_mnist import fashion_mnist_spec
from aegan.data.spec import DataSpec
from aegan.layers import MinibatchDiscrimination
from aegan.models import GAN, DCGANConfig, GANConfig
from aegan.training.gan_step import make_gan_step
from aegan.training.optimizers import build_optimizer
from aegan.training.replay import ReplayPool
from conftest import run_cli

FASHION = fashion_mnist_spec()
THREE_CLASSES = DataSpec(layout="image", shape=(1, 28, 28), dtype="uint8", scaling="divide_255",
                         value_range=(0.0, 255.0), class_names=("a", "b", "c"))
TINY_GAN = GANConfig(coding_size=4, generator_sizes=(8,), discriminator_sizes=(8,)).for_data(FASHION)


@pytest.mark.parametrize("config", [
    TINY_GAN,
    GANConfig(coding_size=4, generator_sizes=(8,), discriminator_sizes=(8,), conditional=True,
              minibatch_kernels=2).for_data(THREE_CLASSES),
    DCGANConfig(coding_size=4, generator_channels=(4, 2), discriminator_channels=(2, 4)).for_data(FASHION),
    DCGANConfig(coding_size=4, generator_channels=(4, 2), discriminator_channels=(2, 4), conditional=True,
                minibatch_kernels=2).for_data(THREE_CLASSES)])
def test_shapes_and_ranges(config):
    model = GAN(config)
    labels = model.random_labels(5)
    images = model.generate(torch.randn(5, 4), labels)
    low = -1 if config.kind == "dcgan" else 0
    assert images.shape == (5, 1, 28, 28) and low <= images.min() and images.max() <= 1
    assert model.discriminate(images, labels).shape == (5,)
    samples = model.sample(6, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (6, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1


def test_two_phase_step_changes_each_network_in_its_own_phase():
    torch.manual_seed(0)
    model = GAN(TINY_GAN)
    optimizer_d = build_optimizer("rmsprop", model.discriminator.parameters(), 1e-3)
    optimizer_g = build_optimizer("rmsprop", model.generator.parameters(), 1e-3)
    d_before = [p.detach().clone() for p in model.discriminator.parameters()]
    g_before = [p.detach().clone() for p in model.generator.parameters()]
    d_updates = []
    original_step = optimizer_d.step

    def spy_step(*args, **kwargs):  # D's weights right after its own phase
        result = original_step(*args, **kwargs)
        d_updates.append([p.detach().clone() for p in model.discriminator.parameters()])
        return result

    optimizer_d.step = spy_step
    step = make_gan_step(model, optimizer_d, optimizer_g, ReplayPool(0))
    d_logits, g_logits = step(torch.rand(6, 1, 28, 28), None)
    assert d_logits.shape == (12,) and g_logits.shape == (6,)
    assert torch.isfinite(d_logits).all() and torch.isfinite(g_logits).all()
    after_d_phase = d_updates[0]
    assert any(not torch.equal(a, b) for a, b in zip(d_before, after_d_phase))
    # Phase 2 trains the generator and leaves the discriminator exactly as phase 1 left it.
    assert all(torch.equal(a, b) for a, b in zip(after_d_phase, model.discriminator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))
    assert all(p.requires_grad for p in model.discriminator.parameters())


def test_replay_pool_serves_earlier_fakes_to_the_discriminator():
    pool = ReplayPool(pool_batches=3, probability=1.0, generator=torch.Generator().manual_seed(0))
    batches = [torch.full((2, 28, 28), float(i)) for i in range(10)]
    served = [pool(batch)[0] for batch in batches]
    assert [s[0, 0, 0].item() for s in served[:3]] == [0.0, 1.0, 2.0]  # filling the pool
    later = [s[0, 0, 0].item() for s in served[3:]]
    assert all(value < index + 3 for index, value in enumerate(later))  # always an older batch
    assert pool.replayed == 7
    # And through the training step: the discriminator's fake input is a pooled batch.
    model = GAN(TINY_GAN)
    seen = []
    original = model.discriminate
    model.discriminate = lambda images, labels=None: (seen.append(images.detach().clone()), original(images, labels))[1]
    marker = torch.full((4, 1, 28, 28), 0.123)
    pool = ReplayPool(pool_batches=1, probability=1.0)
    pool(marker)  # the pool now holds the marker batch
    step = make_gan_step(model, build_optimizer("rmsprop", model.discriminator.parameters(), 1e-3),
                         build_optimizer("rmsprop", model.generator.parameters(), 1e-3), pool)
    step(torch.rand(4, 1, 28, 28), None)
    assert torch.equal(seen[1], marker)  # phase 1 calls D on reals, then on the (pooled) fakes


def test_minibatch_features_react_to_a_collapsed_batch():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(in_features=6, num_kernels=4, kernel_dims=3)
    varied = torch.randn(8, 6) * 3
    collapsed = varied[:1].expand(8, 6).clone()
    closeness_varied = layer.closeness(varied)
    closeness_collapsed = layer.closeness(collapsed)
    assert torch.allclose(closeness_collapsed, torch.full((8, 4), 7.0))  # 7 identical neighbours each
    assert (closeness_varied < closeness_collapsed - 0.1).all()
    assert layer(varied).shape == (8, 10)
    assert torch.equal(layer(varied)[:, :6], varied)


@pytest.fixture(scope="module")
def cgan_run(fashion, tmp_path_factory):
    return aegan.train("cgan", epochs=1, out=tmp_path_factory.mktemp("cgan") / "run", progress=False,
                       log=lambda m: None, overrides={"data.train_subset": 6400, "training.replay_pool_batches": 5})


def test_gan_run_folder(cgan_run):
    record = cgan_run.metrics()[-1]
    assert {"d_loss", "g_loss", "d_accuracy_real", "d_accuracy_fake", "seconds"} <= set(record)
    assert record["replayed_batches"] > 0
    assert (cgan_run.path / "samples" / "epoch-0001.png").is_file()
    assert (cgan_run.path / "samples" / "progress.gif").read_bytes()[:6] == b"GIF89a"


def test_sample_and_interpolate_a_gan_from_its_checkpoint(cgan_run, tmp_path):
    result = run_cli("sample", cgan_run.path, "-n", "8", "--label", "7", "--out", tmp_path / "s.png")
    assert result.returncode == 0, result.stderr
    sevens = aegan.api.sample(cgan_run.path, n=8, seed=1, label=7)
    others = aegan.api.sample(cgan_run.path, n=8, seed=1, label=1)
    assert sevens.shape == (8, 1, 28, 28) and not np.allclose(sevens, others)
    result = run_cli("interpolate", cgan_run.path, "--steps", "5", "--out", tmp_path / "i.png")
    assert result.returncode == 0, result.stderr
    bad = run_cli("sample", cgan_run.path, "--label", "12")
    assert bad.returncode == 2 and "from 0 to 9" in bad.stderr


def test_evaluate_a_gan_run_writes_every_generative_metric_with_its_floor(cgan_run, monkeypatch, tmp_path):
    import json

    import aegan.evaluation.classifier as classifier_module

    monkeypatch.setenv("AEGAN_CACHE_DIR", str(tmp_path / "cache"))  # a quick classifier, not the cached one
    monkeypatch.setattr(classifier_module, "RECIPE", {**classifier_module.RECIPE, "epochs": 1})
    result = aegan.api.evaluate(cgan_run, n=500)
    for key in ("fid", "kid", "precision", "recall", "density", "coverage", "classes_covered",
                "class_kl_to_test", "class_kl_to_uniform", "classifier_score"):
        assert key in result and f"{key}_floor" in result, key
    assert result["fid"] > result["fid_floor"] >= 0
    assert 0.85 < result["coverage_floor"] <= 1 and result["classes_covered_floor"] == 10
    assert sum(result["class_histogram"]) == 500 and 1 <= result["classes_covered"] <= 10
    assert json.loads((cgan_run.path / "evaluation.json").read_text())["fid"] == pytest.approx(result["fid"])


def test_encode_and_reconstruct_on_a_gan_run_say_what_it_can_do(cgan_run):
    for command in ("encode", "reconstruct"):
        result = run_cli(command, cgan_run.path)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "has no encoder" in result.stderr and "aegan sample" in result.stderr


def test_a_gan_batch_larger_than_the_data_is_a_user_error_before_any_folder(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((50, 28, 28), dtype=np.float32))
    result = run_cli("train", "gan", "--out", str(tmp_path / "run"), "--batch-size", "64",
                     "--data", tmp_path / "x.npy")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    # 40 of the 50 samples are the training split (the rest validation and test)
    assert "training.batch_size=64 is more than the 40 training samples" in result.stderr
    assert "--batch-size 40 or less" in result.stderr
    assert not (tmp_path / "run").exists()
