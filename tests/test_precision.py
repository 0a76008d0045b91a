"""Mixed precision: autocast to bf16 or fp16 acts, the fp16 scaler is saved and resumed, fp32 is unchanged."""

import hashlib

import pytest
import torch
from torch import nn

import aegan
from aegan.errors import AeganError
from aegan.training import precision as precision_module
from aegan.training.fast_steps import select_autoencoder_step, select_gan_step
from aegan.training.precision import Precision, cpu_bf16_units

QUIET = {"progress": False, "log": lambda message: None}


@pytest.fixture
def images(random_images):
    return random_images


def test_bf16_units_are_read_from_the_cpus_flags():
    assert cpu_bf16_units("flags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n") == ["AVX-512 BF16"]
    assert cpu_bf16_units("flags\t: fpu avx512_bf16 amx_bf16 amx_tile\n") == ["AVX-512 BF16", "AMX"]
    assert cpu_bf16_units("flags\t: fpu sse2 avx2\n") == []


def test_a_cpu_without_bf16_units_is_named_in_the_log(monkeypatch):
    training = aegan.api.load_config("conv_ae", {"training.precision": "bf16"}).training
    monkeypatch.setattr(precision_module, "cpu_bf16_units", lambda: [])
    assert "no bf16 units" in precision_module.check(training, torch.device("cpu"))
    monkeypatch.setattr(precision_module, "cpu_bf16_units", lambda: ["AMX"])
    assert "AMX" in precision_module.check(training, torch.device("cpu"))
    assert precision_module.check(aegan.api.load_config("conv_ae").training, torch.device("cpu")) is None


def output_dtypes(model: nn.Module) -> list:
    seen = []
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            module.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    return seen


@pytest.mark.parametrize("precision, dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16),
                                              ("fp16", torch.float16)])
def test_the_autoencoder_step_computes_in_the_chosen_precision(precision, dtype):
    config = aegan.api.load_config("stacked_ae", {"training.precision": precision, "model.input_shape": [1, 8, 8],
                                                  "model.reconstruction_loss": "binary_crossentropy",
                                                  "model.output_activation": "sigmoid"})
    model = aegan.models.build_model(config.model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    step, name = select_autoencoder_step(model, config.training, optimizer, Precision(precision, "cpu"))
    assert name == ("fast_dense" if precision == "fp32" else "autograd")  # the hand-derived steps are fp32 only
    seen = output_dtypes(model)
    before = [p.detach().clone() for p in model.parameters()]
    loss = step(torch.rand(16, 1, 8, 8))
    if precision != "fp32":
        assert seen and set(seen) == {dtype}
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the weights stay fp32
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_the_gan_step_computes_in_bf16_and_keeps_fp32_logits():
    config = aegan.api.load_config("dcgan", {"training.precision": "bf16", "model.input_shape": [1, 8, 8],
                                             "model.output_activation": "tanh"})
    model = aegan.models.build_model(config.model)
    optimizers = [torch.optim.SGD(net.parameters(), lr=0.01) for net in (model.discriminator, model.generator)]
    step, name = select_gan_step(model, config.training, *optimizers, replay=lambda f, l: (f, l),
                                 precision=Precision("bf16", "cpu"))
    assert name == "autograd"
    seen = output_dtypes(model)
    d_logits, g_logits = step(torch.rand(16, 1, 8, 8) * 2 - 1, None)
    assert set(seen) == {torch.bfloat16}
    assert d_logits.dtype == g_logits.dtype == torch.float32 and torch.isfinite(d_logits).all()


def sha(run) -> str:
    newest = sorted((run.path / "checkpoints").glob("epoch-*.safetensors"))[-1]
    return hashlib.sha256(newest.read_bytes()).hexdigest()


def test_an_fp16_run_resumed_after_an_epoch_equals_an_uninterrupted_one(images, tmp_path):
    """The gradient scaler's scale and growth count are part of the checkpoint."""
    overrides = {"training.precision": "fp16", "training.num_epochs": 3, "training.batch_size": 16}
    full = aegan.train("conv_ae", data=images, out=tmp_path / "full", overrides=overrides, **QUIET)
    state = (full.path / "checkpoints" / "epoch-0003.json").read_text()
    assert '"grad_scaler"' in state and '"scale"' in state
    cut = aegan.train("conv_ae", data=images, out=tmp_path / "cut", overrides=overrides, **QUIET)
    for file in (cut.path / "checkpoints").glob("epoch-0003.*"):
        file.unlink()
    resumed = aegan.resume(cut.path, **QUIET)
    assert sha(resumed) == sha(full)


@pytest.mark.slow
def test_bf16_trains_to_about_the_fp32_loss(images, tmp_path):
    losses = {}
    for precision in ("fp32", "bf16"):
        run = aegan.train("stacked_ae", data=images, out=tmp_path / precision, epochs=3, batch_size=16,
                          overrides={"training.precision": precision, "training.fast_path": False}, **QUIET)
        losses[precision] = run.metrics()[-1]["loss"]
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.02)


def test_fp16_with_a_gradient_penalty_is_refused_before_any_folder(images, tmp_path):
    with pytest.raises(AeganError, match="precision='fp16' with training.gradient_penalty"):
        aegan.train("wgan_gp", data=images, out=tmp_path / "run", overrides={"training.precision": "fp16"}, **QUIET)
    assert not (tmp_path / "run").exists()
    with pytest.raises(AeganError, match="training.precision"):
        aegan.api.load_config("gan", {"training.precision": "fp8"})


def test_the_cpu_description_names_the_vector_extensions_torch_uses():
    from aegan.runtime import cpu_description

    text = cpu_description()
    assert f"torch kernels {torch.backends.cpu.get_cpu_capability()}" in text
    flags = open("/proc/cpuinfo").read() if __import__("os").path.exists("/proc/cpuinfo") else ""
    if " avx2" in flags:
        assert "AVX2" in text


@pytest.mark.slow
def test_the_gpu_check_runs_every_preset_dry_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.py is meant for a GPU; its CPU dry run shows that every row is measured."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
    out = tmp_path / "check.json"
    done = subprocess.run([sys.executable, str(script), "--device", "cpu", "--steps", "2", "--warmup", "1",
                           "--json", str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    presets = {row["preset"] for row in rows}
    assert {"stacked_ae", "conv_ae", "feature_ae", "vae", "gan", "cgan", "dcgan", "dcgan_plus", "wgan_gp", "progan",
            "stylegan", "ddpm", "cddpm"} <= presets
    assert {row["precision"] for row in rows} == {"fp32", "bf16"}
    assert all(row["aegan"]["images_per_second"] > 0 and row["plain eager"]["images_per_second"] > 0 for row in rows)
    fast = {row["preset"]: row["aegan"]["step"] for row in rows if row["precision"] == "fp32"}
    assert fast["stacked_ae"] == "fast_dense" and fast["wgan_gp"] == "autograd"  # the step aegan really takes
    # --compile adds aegan's step with training.compile (torch.compile, inductor) to each row
    done = subprocess.run([sys.executable, str(script), "--device", "cpu", "--steps", "2", "--warmup", "1",
                           "--presets", "stacked_ae", "--precisions", "fp32", "--compile", "--json", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = json.loads(out.read_text())["rows"]
    assert row["aegan compiled"]["step"] == "compiled" and row["aegan compiled"]["images_per_second"] > 0
    assert "compiled/eager" in done.stdout
