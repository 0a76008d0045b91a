"""`aegan export RUN --onnx`: every family's ONNX files give PyTorch's outputs with onnxruntime alone.

Each family trains for one epoch on tiny data written to a temporary folder (once per module)
and is exported once; the tests run the files at batch sizes 1 and 7.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import aegan
from aegan.cli import main
from aegan.runs import Run

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from aegan.export import export_onnx  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "onnx_sample.py"
TOLERANCE = 1e-5
QUIET = {"progress": False, "log": lambda message: None}
SMALL = {"training.num_epochs": 1, "training.batch_size": 8, "training.learning_rate": 0.01}

# family -> (preset, data file, tiny model keys)
FAMILIES = {
    "dense_ae": ("stacked_ae", "table.npy", {"model.hidden_sizes": [8], "model.coding_size": 3}),
    "conv_ae": ("conv_ae", "images.npy", {"model.filters": [4, 4, 4]}),
    "recurrent_ae": ("recurrent_ae", "sequences.npy", {"model.hidden_size": 6, "model.coding_size": 3}),
    "vae": ("vae", "images.npy", {"model.hidden_sizes": [16], "model.coding_size": 3}),
    "conv_vae": ("conv_vae", "images.npy", {"model.channels": [4, 4], "model.coding_size": 3}),
    "gan": ("gan", "images.npy", {"model.generator_sizes": [16], "model.discriminator_sizes": [16],
                                  "model.coding_size": 4}),
    "cgan": ("cgan", "labelled.npz", {"model.generator_sizes": [16], "model.discriminator_sizes": [16],
                                      "model.coding_size": 4}),
    "dcgan": ("dcgan", "images.npy", {"model.generator_channels": [8, 4], "model.discriminator_channels": [4, 8],
                                      "model.coding_size": 6}),
}


@pytest.fixture(scope="module", autouse=True)
def onnx_translations_built_once():
    """torch.onnx builds its table of operator translations again for every file (about 2 s each);
    these tests export 15 files, so the table is built once and shared (it is only read)."""
    registration = pytest.importorskip("torch.onnx._internal.exporter._registration")
    registry = getattr(registration, "ONNXRegistry", None)
    if registry is None or not hasattr(registry, "from_torchlib"):
        yield  # another torch: export as it does
        return
    build, built = registry.from_torchlib, {}

    def shared(*args, **kwargs):
        key = (args, tuple(sorted(kwargs.items())))
        if key not in built:
            built[key] = build(*args, **kwargs)
        return built[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "from_torchlib", staticmethod(shared))
        yield


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Tiny data of every layout: 1x8x8 uint8 images (labelled in the npz), a float table, float sequences."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (48, 8, 8), dtype=np.uint8)
    np.save(folder / "images.npy", images)
    np.savez(folder / "labelled.npz", images=images, labels=np.repeat(["cat", "dog", "owl"], 16))
    np.save(folder / "table.npy", (rng.normal(size=(48, 5)) * 4 + 10).astype(np.float32))  # standardised
    np.save(folder / "sequences.npy", rng.random((48, 6, 2)).astype(np.float32))  # in [0, 1]: used as they are
    return folder


@pytest.fixture(scope="module")
def exported(data, tmp_path_factory):
    """family -> (run folder, files written by export_onnx): each trained and exported on first use."""
    cache = {}

    def get(family):
        if family not in cache:
            preset, file, keys = FAMILIES[family]
            run = aegan.train(preset, data=data / file, out=tmp_path_factory.mktemp("runs") / family,
                              overrides={**SMALL, **keys}, **QUIET)
            cache[family] = run.path, export_onnx(run.path)
        return cache[family]

    return get


def reference(model, name, inputs):
    """PyTorch's output for an ONNX file's inputs, from the model's own encode / decode."""
    tensors = [torch.from_numpy(value) for value in inputs.values()]
    with torch.no_grad():
        if name == "encoder":
            codings = model.encode(*tensors)
            return (codings[0] if isinstance(codings, tuple) else codings).flatten(1).numpy()
        return model.decode(*tensors).numpy()


def new_inputs(description, batch, rng):
    """Inputs for a file as export.json describes them."""
    inputs = {}
    for tensor in description["inputs"]:
        shape = (batch, *tensor["shape"][1:])
        if tensor["dtype"] == "int64":
            inputs[tensor["name"]] = rng.integers(0, 3, shape).astype(np.int64)
        else:
            inputs[tensor["name"]] = rng.random(shape, dtype=np.float32)
    return inputs


def largest_difference(run_path, files):
    """The largest |onnxruntime - PyTorch| over every file at batch sizes 1 and 7 (and checks the shapes)."""
    model = Run(run_path).model.eval()
    assert not model.training
    description = json.loads(files["export"].read_text())
    rng = np.random.default_rng(1)
    worst = 0.0
    for name in ("encoder", "decoder"):
        if name not in files:
            continue
        session = onnxruntime.InferenceSession(str(files[name]), providers=["CPUExecutionProvider"])
        for batch in (1, 7):
            inputs = new_inputs(description["files"][f"{name}.onnx"], batch, rng)
            (got,) = session.run(None, inputs)
            expected = reference(model, name, inputs)
            assert got.shape == expected.shape == (batch, *expected.shape[1:])
            assert list(got.shape[1:]) == description["files"][f"{name}.onnx"]["outputs"][0]["shape"][1:]
            worst = max(worst, float(np.abs(got - expected).max()))
    return worst


@pytest.mark.parametrize("family", list(FAMILIES))
def test_onnx_files_match_pytorch_at_batch_sizes_1_and_7(exported, family):
    run_path, files = exported(family)
    able = {"encoder", "decoder"} if family not in ("gan", "cgan", "dcgan") else {"decoder"}
    assert set(files) == able | {"export"}
    assert sorted(p.name for p in files["export"].parent.iterdir()) == sorted(p.name for p in files.values())
    difference = largest_difference(run_path, files)
    print(f"{family}: largest difference {difference:.2e}")
    assert difference <= TOLERANCE


@pytest.mark.parametrize("family", ["dense_ae", "recurrent_ae", "cgan"])
def test_every_input_and_output_has_a_dynamic_batch_axis(exported, family):
    _, files = exported(family)
    description = json.loads(files["export"].read_text())
    for name in ("encoder", "decoder"):
        if name not in files:
            continue
        graph = onnx.load(files[name]).graph
        for value in [*graph.input, *graph.output]:
            first = value.type.tensor_type.shape.dim[0]
            assert first.dim_param == "batch" and not first.HasField("dim_value"), value
        declared = description["files"][f"{name}.onnx"]
        assert [t["name"] for t in declared["inputs"]] == [value.name for value in graph.input]
        assert [t["name"] for t in declared["outputs"]] == [value.name for value in graph.output]
        assert all(t["shape"][0] == "batch" for t in declared["inputs"] + declared["outputs"])
    if family == "cgan":
        inputs = description["files"]["decoder.onnx"]["inputs"]
        assert inputs[1] == {"name": "labels", "shape": ["batch"], "dtype": "int64"}
        assert description["codings"]["labels"]["class_names"] == ["cat", "dog", "owl"]


def numpy_to_model(samples, data):
    """export.json's recipe from stored samples to the model's input, with NumPy only."""
    values = samples.astype(np.float32)
    if data["scaling"] == "divide_255":
        return values / 255
    if data["scaling"] == "standardize":
        shape = data["statistics_shape"]
        return ((values - np.reshape(data["mean"], shape)) / np.reshape(data["std"], shape)).astype(np.float32)
    return values


def numpy_from_model(outputs, data):
    if data["scaling"] == "standardize":
        shape = data["statistics_shape"]
        return outputs * np.reshape(data["std"], shape) + np.reshape(data["mean"], shape)
    return outputs


@pytest.mark.parametrize("family, file", [("dense_ae", "table.npy"), ("vae", "images.npy"),
                                          ("recurrent_ae", "sequences.npy")])
def test_export_json_scaling_turns_stored_data_into_the_runs_codings_and_back(exported, data, family, file):
    run_path, files = exported(family)
    description = json.loads(files["export"].read_text())
    samples = np.load(data / file)[:7]
    if description["data"]["layout"] == "image":
        samples = samples[:, None]
    encoder = onnxruntime.InferenceSession(str(files["encoder"]), providers=["CPUExecutionProvider"])
    decoder = onnxruntime.InferenceSession(str(files["decoder"]), providers=["CPUExecutionProvider"])
    (codings,) = encoder.run(None, {"samples": numpy_to_model(samples, description["data"])})
    run = Run(run_path)
    np.testing.assert_allclose(codings, run.encode(samples), rtol=0, atol=TOLERANCE)
    (outputs,) = decoder.run(None, {"codings": codings})
    scale = max(description["data"].get("std", [1.0]))
    np.testing.assert_allclose(numpy_from_model(outputs, description["data"]), run.reconstruct(samples),
                               rtol=0, atol=TOLERANCE * scale)
    assert description["data"]["scaling"] == {"dense_ae": "standardize", "vae": "divide_255",
                                              "recurrent_ae": "none"}[family]


def test_cli_exports_into_the_given_folder(exported, tmp_path, capsys):
    run_path, _ = exported("dense_ae")
    assert main(["export", str(run_path), "--onnx", "--out", str(tmp_path / "files")]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "files" / name) for name in ("encoder.onnx", "decoder.onnx", "export.json")]
    assert largest_difference(run_path, {Path(p).stem: Path(p) for p in printed}) <= TOLERANCE


def one_line_error(capsys, argv):
    code = main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    return lines[0]


def test_cli_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert "is not a run folder" in one_line_error(capsys, ["export", str(tmp_path), "--onnx"])
    assert "is not a run folder" in one_line_error(capsys, ["export", str(tmp_path / "missing"), "--onnx"])
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(tmp_path)])  # no format chosen
    assert exit_info.value.code == 2 and "--onnx" in capsys.readouterr().err


def test_cli_without_onnxruntime_says_how_to_install_it(exported, tmp_path, monkeypatch, capsys):
    run_path, _ = exported("dense_ae")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now fails
    line = one_line_error(capsys, ["export", str(run_path), "--onnx", "--out", str(tmp_path / "files")])
    assert line == ("aegan: error: aegan export --onnx needs onnx and onnxruntime: pip install 'aegan[onnx]' "
                    "(missing: onnxruntime)")
    assert not (tmp_path / "files").exists()


def test_cli_refuses_an_output_folder_that_is_a_file(exported, tmp_path, capsys):
    run_path, _ = exported("dense_ae")
    (tmp_path / "taken").write_text("mine")
    line = one_line_error(capsys, ["export", str(run_path), "--onnx", "--out", str(tmp_path / "taken")])
    assert "is a file" in line and (tmp_path / "taken").read_text() == "mine"


# The example must run where neither torch nor aegan is imported: this wrapper runs it, then checks.
WITHOUT_TORCH = """
import runpy, sys
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
imported = sorted(name for name in sys.modules if name.split(".")[0] in ("torch", "aegan"))
assert not imported, imported
"""


@pytest.mark.parametrize("family, columns", [("cgan", 3), ("conv_vae", 3)])
def test_example_samples_a_png_with_onnxruntime_alone(exported, tmp_path, family, columns):
    from PIL import Image

    run_path, files = exported(family)
    out = tmp_path / "samples.png"
    result = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, str(EXAMPLE), str(files["export"].parent),
                             "--out", str(out), "-n", "9", "--scale", "1"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    image = Image.open(out)
    image.load()
    assert image.mode == "L" and image.size == (columns * 9 - 1, 3 * 9 - 1)  # 8x8 images, 1-pixel gaps
    pixels = np.asarray(image)
    assert pixels.std() > 0  # not a blank sheet


def test_example_refuses_a_plain_autoencoder(exported, tmp_path):
    _, files = exported("conv_ae")
    result = subprocess.run([sys.executable, str(EXAMPLE), str(files["export"].parent), "--out",
                             str(tmp_path / "x.png")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "no prior to sample from" in result.stderr
    assert not (tmp_path / "x.png").exists()
