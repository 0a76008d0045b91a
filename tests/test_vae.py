"""VAEs: the contract on tiny shapes, the book's latent loss, sampling from the checkpoint alone."""

import numpy as np
import pytest
import torch

import aegan
from aegan.data.spec import DataSpec
from aegan.evaluation import vae_report
from aegan.models import ConvVAEConfig, ConvVariationalAutoencoder, VAEConfig, VariationalAutoencoder
from conftest import run_cli

FASHION = DataSpec(layout="image", shape=(1, 28, 28), dtype="uint8", scaling="divide_255", value_range=(0.0, 255.0),
                   class_names=tuple(str(i) for i in range(10)))


@pytest.fixture(params=["vae", "conv_vae"])
def tiny_vae(request):
    torch.manual_seed(0)
    if request.param == "vae":
        return VariationalAutoencoder(VAEConfig(hidden_sizes=(16, 8), coding_size=3).for_data(FASHION))
    return ConvVariationalAutoencoder(ConvVAEConfig(channels=(4, 8), coding_size=3).for_data(FASHION))


def test_contract_shapes(tiny_vae):
    x = torch.rand(5, 1, 28, 28)
    mean, log_var = tiny_vae.encode(x)
    assert mean.shape == log_var.shape == (5, 3)
    assert tiny_vae.decode(mean).shape == (5, 1, 28, 28)
    assert tiny_vae(x).shape == (5, 1, 28, 28)
    terms = tiny_vae.loss_terms(x)
    assert set(terms) == {"loss", "reconstruction", "latent"}
    torch.testing.assert_close(terms["loss"], terms["reconstruction"] + terms["latent"])
    samples = tiny_vae.sample(4, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (4, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1
    again = tiny_vae.sample(4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(samples, again)


def test_latent_loss_is_the_books_formula():
    model = VariationalAutoencoder(VAEConfig(hidden_sizes=(8,), coding_size=2, beta=0.5).for_data(FASHION))
    mean, log_var = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.5, -1.0]])
    model.encode = lambda x: (mean.expand(len(x), 2), log_var.expand(len(x), 2))
    terms = model.loss_terms(torch.rand(3, 1, 28, 28))
    expected = -0.5 * sum(1 + lv - np.exp(lv) - m**2 for m, lv in [(1.0, 0.5), (-2.0, -1.0)]) / 784
    assert terms["latent"].item() == pytest.approx(expected, rel=1e-6)
    torch.testing.assert_close(terms["loss"], terms["reconstruction"] + 0.5 * terms["latent"])


def test_eval_mode_reconstructs_from_the_mean(tiny_vae):
    tiny_vae.eval()
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(tiny_vae(x), tiny_vae(x))
    tiny_vae.train()
    assert not torch.equal(tiny_vae(x), tiny_vae(x))


def test_report_counts_active_units():
    model = VariationalAutoencoder(VAEConfig(hidden_sizes=(8,), coding_size=4).for_data(FASHION))
    codes = torch.stack([torch.linspace(-1, 1, 50), torch.zeros(50), torch.linspace(-2, 2, 50), torch.zeros(50)], 1)
    model.encode = lambda x: (codes[: len(x)], torch.full((len(x), 4), -20.0))
    report = vae_report(model, torch.rand(50, 1, 28, 28))
    assert report["active_units"] == 2 and report["coding_size"] == 4
    assert report["negative_elbo_nats"] == pytest.approx(784 * (report["reconstruction"] + report["latent"]))


@pytest.fixture(scope="module")
def vae_run(fashion, tmp_path_factory):
    return aegan.train("vae", epochs=2, out=tmp_path_factory.mktemp("vae") / "run", progress=False,
                       log=lambda message: None)


def test_vae_trains_on_real_data(vae_run):
    record = vae_run.metrics()[-1]
    assert record["val_loss"] < 0.345 and record["val_rounded_accuracy"] > 0.88  # book after 25: 0.3133
    test = vae_run.test_results()
    assert test["active_units"] >= 5 and 200 < test["negative_elbo_nats"] < 300


def test_sample_and_interpolate_need_only_the_checkpoint(vae_run, tmp_path):
    import shutil

    from PIL import Image

    copy = tmp_path / "copied-run"
    shutil.copytree(vae_run.path, copy)
    env = {"HOME": str(tmp_path), "AEGAN_DATA_DIR": str(tmp_path / "gone"), "PATH": "/usr/bin:/bin"}
    # No data set is reachable from this subprocess unless Debian's folder exists; sampling never reads it.
    result = run_cli("sample", copy, "-n", "12", "--seed", "3", "--out", tmp_path / "s.png", env=env)
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "s.png").size[0] > 600
    images = aegan.api.sample(copy, n=6, seed=3)
    assert images.shape == (6, 1, 28, 28) and images.std() > 0.05
    assert not np.allclose(images[0], images[1])
    result = run_cli("interpolate", copy, "--steps", "7", "--out", tmp_path / "i.png", env=env)
    assert result.returncode == 0, result.stderr
    rows = aegan.api.interpolate(copy, steps=5, pairs=2)
    assert rows.shape == (2, 5, 1, 28, 28)
    # The ends of a row decode the ends' codings: consecutive steps change gradually.
    steps = np.abs(np.diff(rows, axis=1)).mean(axis=(2, 3, 4))
    assert steps.max() < np.abs(rows[:, -1] - rows[:, 0]).mean() + 1e-6


def test_sample_on_a_run_that_cannot_sample(trained_run):
    result = run_cli("sample", trained_run.path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and "dense_ae run, which cannot sample" in line and "aegan reconstruct" in line


def test_vae_codings_are_the_posterior_means(vae_run, fashion):
    codings = vae_run.encode(fashion.valid_images[:50])
    assert codings.shape == (50, 10)
    import torch

    from aegan.runs import images_to_tensor

    with torch.no_grad():
        mean, _ = vae_run.model.encode(images_to_tensor(fashion.valid_images[:50]))
    np.testing.assert_allclose(codings, mean.numpy(), rtol=1e-6)
