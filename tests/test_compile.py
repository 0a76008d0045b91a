"""training.compile: the autograd step's forward passes through torch.compile, the same weights as
without it; what it cannot do is refused in one line."""

import json

import pytest
import torch
from safetensors.torch import load_file

import aegan
from aegan.errors import AeganError

QUIET = {"progress": False, "log": lambda message: None}
TINY = {  # small networks for 8x8 images
    "stacked_ae": {},
    "gan": {"training.batch_size": 16},
    "dcgan": {"model.generator_channels": [8, 4], "model.discriminator_channels": [4, 8], "model.coding_size": 8},
    "ddpm": {"model.channels": [8, 16], "model.num_timesteps": 40, "model.sample_steps": 4},
}
LOOPS = ["stacked_ae", *(pytest.param(name, marks=pytest.mark.slow) for name in ("gan", "dcgan", "ddpm"))]


@pytest.fixture
def graphs(monkeypatch):
    """The graphs torch.compile hands to its backend: a recording backend that runs them as traced."""
    seen = []
    real = torch.compile

    def recording(graph_module, example_inputs):
        seen.append(graph_module)
        return graph_module.forward

    monkeypatch.setattr(torch, "compile", lambda function, backend: real(function, backend=recording))
    yield seen
    torch.compiler.reset()


def weights(run) -> dict[str, torch.Tensor]:
    return load_file(sorted((run.path / "checkpoints").glob("epoch-*.safetensors"))[-1])


@pytest.mark.parametrize("preset", LOOPS)  # the loops of each family
def test_a_compiled_run_takes_the_compiled_step_and_gets_the_same_weights(preset, graphs, random_images, tmp_path):
    overrides = {**TINY[preset], "training.fast_path": False}
    eager = aegan.train(preset, data=random_images, out=tmp_path / "eager", epochs=1, overrides=overrides, **QUIET)
    assert not graphs
    run = aegan.train(preset, data=random_images, out=tmp_path / "compiled", epochs=1, **QUIET,
                      overrides={**overrides, "training.compile": True, "training.compile_backend": "eager"})
    assert json.loads((run.path / "run.json").read_text())["training_steps"] == ["compiled"]
    assert graphs  # torch.compile traced the forward passes and its backend ran them
    ours, theirs = weights(run), weights(eager)
    assert ours.keys() == theirs.keys()  # the checkpoint does not know the step was compiled
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-4, atol=1e-5, msg=name)


def test_compile_turns_the_fast_steps_off(random_images, tmp_path, graphs):
    run = aegan.train("stacked_ae", data=random_images, out=tmp_path / "run", epochs=1, **QUIET,
                      overrides={"training.compile": True, "training.compile_backend": "eager"})
    assert json.loads((run.path / "run.json").read_text())["training_steps"] == ["compiled"]  # not fast_dense


def test_what_compile_cannot_do_is_refused_in_one_line(random_images, tmp_path):
    with pytest.raises(AeganError, match="does not differentiate twice") as error:
        aegan.api.load_config("wgan_gp", {"training.compile": True})
    assert "\n" not in str(error.value)
    with pytest.raises(AeganError, match="training.compile='yes': expected true or false"):
        aegan.api.load_config("dcgan", {"training.compile": "yes"})
    with pytest.raises(AeganError, match="not a torch.compile backend here; expected one of .*inductor"):
        aegan.train("stacked_ae", data=random_images, out=tmp_path / "run", epochs=1, **QUIET,
                    overrides={"training.compile": True, "training.compile_backend": "nonesuch"})


@pytest.mark.slow
def test_inductor_compiles_a_convolutional_step_on_this_machine(random_images, tmp_path):
    """The default backend for real: kernels generated and built with the machine's C++ compiler."""
    overrides = {"training.fast_path": False}
    eager = aegan.train("conv_ae", data=random_images, out=tmp_path / "eager", epochs=1, overrides=overrides, **QUIET)
    run = aegan.train("conv_ae", data=random_images, out=tmp_path / "compiled", epochs=1, **QUIET,
                      overrides={**overrides, "training.compile": True})
    assert json.loads((run.path / "run.json").read_text())["training_steps"] == ["compiled"]
    ours, theirs = weights(run), weights(eager)
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-3, atol=1e-4, msg=name)
    torch.compiler.reset()
