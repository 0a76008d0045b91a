"""stylegan: modulated convolutions, per-layer styles and their mixing, noise inputs, the
truncation trick, and runs that train and sample (with --mix and --truncation) from the checkpoint."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import aegan
from aegan.errors import AeganError
from aegan.models.stylegan import ModulatedConv2d, StyleGAN, StyleGANConfig
from test_data_errors_cli import run_cli

QUIET = {"progress": False, "log": lambda message: None}


def tiny(style_mixing=0.9) -> StyleGAN:
    torch.manual_seed(0)
    return StyleGAN(StyleGANConfig(input_shape=(1, 28, 28), coding_size=8, mapping_layers=2, channels=(8, 8, 8, 4),
                                   style_mixing=style_mixing, output_activation="tanh"))


def test_a_modulated_convolution_scales_inputs_by_style_and_demodulates():
    torch.manual_seed(0)
    conv = ModulatedConv2d(16, 8, 3, w_size=4)
    x, w = torch.randn(3, 16, 9, 9), torch.randn(3, 4)
    style = conv.affine(w)
    by_hand = torch.stack([F.conv2d(x[i:i + 1], conv.weight * conv.scale * style[i][None, :, None, None],
                                    padding=1)[0] for i in range(3)])
    norms = (conv.weight * conv.scale * style[:, None, :, None, None]).square().sum(dim=(2, 3, 4)).sqrt()
    torch.testing.assert_close(conv(x, w), by_hand / norms[:, :, None, None], rtol=1e-4, atol=1e-5)
    # demodulation: the output's scale does not follow the style's
    torch.testing.assert_close(conv(x, w * 0 + 5.0 * w), conv(x, 5.0 * w))
    torch.testing.assert_close(conv.affine(torch.zeros(1, 4)), torch.ones(1, 16))  # styles start at 1


def test_style_mixing_switches_styles_at_the_chosen_layer():
    model = tiny()
    seen = []
    for module in model.generator.modules():
        if isinstance(module, ModulatedConv2d):
            module.affine.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].clone()))
    first, second = model.generator.map(torch.randn(2, 8)), model.generator.map(torch.randn(2, 8))
    crossover = 3
    styles = model.generator.num_styles
    ws = first[:, None].repeat(1, styles, 1)
    ws[:, crossover:] = second[:, None]
    model.eval()
    model.generator.synthesize(ws)
    assert len(seen) == styles == 2 + 3 * 3  # 4x4 layer and to-RGB, then two layers and a to-RGB per larger size
    for index, w in enumerate(seen):
        torch.testing.assert_close(w, first if index < crossover else second)


def test_training_mixes_styles_on_the_asked_share_of_batches():
    model = tiny(style_mixing=1.0).train()
    torch.manual_seed(1)
    ws = model.generator.styles(torch.randn(4, 8))
    switched = [not torch.equal(ws[:, i], ws[:, 0]) for i in range(ws.shape[1])]
    assert switched[0] is False and any(switched)
    crossover = switched.index(True)
    assert all(switched[crossover:])  # one switch, from there on
    model.generator.style_mixing = 0.0
    ws = model.generator.styles(torch.randn(4, 8))
    assert all(torch.equal(ws[:, i], ws[:, 0]) for i in range(ws.shape[1]))


def test_truncation_pulls_samples_to_the_mean_style_and_noise_varies_details():
    model = tiny().train()
    for _ in range(20):  # the running mean of w moves while training ...
        model.generator.styles(torch.randn(16, 8))
    average = model.generator.w_average.clone()
    assert average.abs().sum() > 0
    model.eval()
    model.generator.styles(torch.randn(16, 8))
    torch.testing.assert_close(model.generator.w_average, average)  # ... and not in evaluation
    same = model.sample(4, torch.Generator().manual_seed(0), truncation=0.0)
    torch.testing.assert_close(same, same[:1].expand_as(same))  # every style is the mean's (noise scales are 0)
    assert not torch.allclose(model.sample(4, torch.Generator().manual_seed(0)), same)
    with torch.no_grad():
        for layer in model.generator.layers:
            layer.noise_scale.fill_(0.5)
    noisy = model.sample(4, torch.Generator().manual_seed(0), truncation=0.0)
    assert not torch.allclose(noisy, noisy[:1].expand_as(noisy))  # the noise inputs vary each image
    torch.testing.assert_close(noisy, model.sample(4, torch.Generator().manual_seed(0), truncation=0.0))


def test_the_mixing_grid_takes_coarse_styles_from_rows_and_fine_from_columns():
    model = tiny()
    grid = model.mixing_grid(2, 3, torch.Generator().manual_seed(0))
    assert grid.shape == (3, 4, 1, 28, 28) and torch.all(grid[0, 0] == 1)
    cells = grid[1:, 1:]
    assert not torch.allclose(cells[0, 0], cells[0, 1]) and not torch.allclose(cells[0, 0], cells[1, 0])
    # every style from the rows' sources: each row is its source, repeated (noise scales start at 0)
    whole = model.mixing_grid(2, 3, torch.Generator().manual_seed(0), crossover=model.generator.num_styles - 1)
    last_rgb_only = whole[1:, 1:]
    assert (last_rgb_only[0, 0] - last_rgb_only[0, 1]).abs().max() < (cells[0, 0] - cells[0, 1]).abs().max()
    with pytest.raises(AeganError, match="crossover=11"):
        model.mixing_grid(2, 3, crossover=11)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "images.npy"
    np.save(path, (np.random.default_rng(0).random((96, 1, 8, 8)) * 255).astype(np.uint8))
    return aegan.train("stylegan", data=path, out=tmp_path_factory.mktemp("runs") / "stylegan",
                       overrides={"model.channels": [8, 8], "model.coding_size": 8, "training.batch_size": 16,
                                  "training.num_epochs": 2}, **QUIET)


def test_a_run_trains_and_samples_with_truncation_and_mixing(run, tmp_path):
    assert len(run.metrics()) == 2 and all(np.isfinite(r["g_loss"]) for r in run.metrics())
    samples = aegan.sample(run.path, 5, seed=2)
    assert samples.shape == (5, 1, 8, 8)
    np.testing.assert_array_equal(samples, aegan.sample(run.path, 5, seed=2))
    assert not np.array_equal(samples, aegan.sample(run.path, 5, seed=2, truncation=0.5))
    out = tmp_path / "mix.png"
    result = run_cli("sample", run.path, "--mix", "--truncation", 0.7, "--out", out)
    assert result.returncode == 0, result.stderr
    assert out.is_file()
    result = run_cli("sample", run.path, "--truncation", 1.5)
    assert result.returncode == 2 and "expected a weight from 0" in result.stderr


def test_truncation_and_mixing_are_refused_for_other_runs(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, (np.random.default_rng(0).random((64, 1, 8, 8)) * 255).astype(np.uint8))
    other = aegan.train("gan", data=path, out=tmp_path / "gan", epochs=1, overrides={"training.batch_size": 16},
                        **QUIET)
    for args, message in ((("--mix",), "no styles to mix"), (("--truncation", 0.7), "it is for stylegan runs")):
        result = run_cli("sample", other.path, *args)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_bf16_autocast_keeps_the_running_mean_style_in_fp32():
    """Under training.precision = bf16 the mapping network's output is bf16; the running mean of w
    (the truncation's centre) stays fp32 and still moves."""
    model = tiny()
    model.train()
    before = model.generator.w_average.clone()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model.generate(torch.randn(4, 8))
    assert model.generator.w_average.dtype == torch.float32
    assert not torch.equal(model.generator.w_average, before)
