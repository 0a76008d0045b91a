"""ONNX export of a run: files that run with onnxruntime alone, and a description of them.

    RUN/onnx/encoder.onnx   samples in the model's scale -> codings (a VAE: the posterior means)
    RUN/onnx/decoder.onnx   codings (and a conditional GAN's labels) -> outputs in the model's scale
                            (a GAN: its generator)
    RUN/onnx/export.json    each file's inputs and outputs, and how the data's values map to the
                            model's scale and back

Which files are written follows what the run's family can do: autoencoders and VAEs get both,
GANs get the decoder only. Every input and output has a dynamic batch axis.

The graphs come from `torch.export.export(..., strict=True)` translated by torch's ONNX exporter
(`torch.onnx.export(program, dynamo=True)`, which needs onnxscript). The models size their
reshapes with `len(x)`: the legacy TorchScript exporter and the non-strict `torch.export`
(what `torch.onnx.export(module, dynamo=True)` uses) both freeze that to the example's batch
size, while strict tracing keeps it symbolic. Each file is checked against the PyTorch model with
onnxruntime before it is written.
"""

from __future__ import annotations

import logging
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aegan.errors import AeganError
from aegan.files import atomic_write_bytes, atomic_write_json
from aegan.runs import Run

EXPORT_FILE = "export.json"
BATCH_AXIS = "batch"
EXAMPLE_BATCH = 3  # the traced example; any batch size runs
CHECK_BATCH = 2  # the batch each file is checked on against PyTorch
CHECK_TOLERANCE = 1e-4
REQUIRED_PACKAGES = ("onnx", "onnxruntime", "onnxscript")


# --- what is exported ---------------------------------------------------------------------------

class Encoder(nn.Module):
    """Samples in the model's scale -> codings (N, coding size); a VAE's are its posterior means."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        codings = self.model.encode(samples)
        if isinstance(codings, tuple):  # a VAE: (mean, log-variance)
            codings = codings[0]
        return codings.flatten(1)


class Decoder(nn.Module):
    """Codings -> outputs (N, *sample shape) in the model's scale."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, codings: torch.Tensor) -> torch.Tensor:
        return self.model.decode(codings)


class ConditionalDecoder(nn.Module):
    """A conditional GAN's generator: codings and class indices (int64) -> outputs in the model's scale."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, codings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.model.decode(codings, labels)


@dataclass
class Part:
    """One ONNX file: its module, example inputs (by name) and the name of its output."""

    name: str
    module: nn.Module
    inputs: dict[str, torch.Tensor]
    output: str
    summary: str


def _num_classes(run: Run) -> int:
    return int(getattr(run.model.config, "num_classes", 0) or 0)


def _example_samples(run: Run, batch: int, generator: torch.Generator) -> torch.Tensor:
    shape = (batch, *run.spec.shape)
    if run.spec.unit_range:
        return torch.rand(shape, generator=generator)
    return torch.randn(shape, generator=generator)


def _example_inputs(run: Run, part: str, coding_size: int, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    if part == "encoder":
        return {"samples": _example_samples(run, batch, generator)}
    inputs = {"codings": torch.randn(batch, coding_size, generator=generator)}
    if _num_classes(run):
        inputs["labels"] = torch.arange(batch, dtype=torch.int64) % _num_classes(run)
    return inputs


def coding_size_of(run: Run) -> int:
    """The size of the codings the decoder takes (a conv autoencoder's are its flattened feature maps)."""
    if run.can("encode"):
        with torch.no_grad():
            return Encoder(run.model).eval()(_example_samples(run, 1, torch.Generator().manual_seed(0))).shape[1]
    return int(run.model.config.coding_size)


def parts(run: Run, coding_size: int) -> list[Part]:
    """The files a run's model gives, by what its family can do."""
    found = []
    if run.can("encode"):
        what = "the posterior means" if run.can("sample") else "codings"
        found.append(Part("encoder", Encoder(run.model), _example_inputs(run, "encoder", coding_size, EXAMPLE_BATCH),
                          "codings", f"samples in the model's scale -> {what}"))
    if run.can("reconstruct") or run.can("sample"):
        conditional = _num_classes(run) > 0
        module = ConditionalDecoder(run.model) if conditional else Decoder(run.model)
        takes = "codings and class indices" if conditional else "codings"
        what = "the generator" if not run.can("encode") else "the decoder"
        found.append(Part("decoder", module, _example_inputs(run, "decoder", coding_size, EXAMPLE_BATCH), "outputs",
                          f"{what}: {takes} -> outputs in the model's scale"))
    return found


# --- exporting ----------------------------------------------------------------------------------

def require_onnx() -> None:
    """The packages the export needs, or one line that says how to install them."""
    missing = []
    for name in REQUIRED_PACKAGES:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise AeganError("aegan export --onnx needs onnx and onnxruntime: pip install 'aegan[onnx]' "
                         f"(missing: {', '.join(missing)})")


@contextmanager
def _quiet():
    """No exporter chatter (deprecation warnings, notes on optional torchvision operators)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def to_onnx(part: Part):
    """The part as an ONNX model (an onnx.ModelProto) with a dynamic batch axis on every input and output."""
    import torch.onnx

    module = part.module.eval()
    args = tuple(part.inputs.values())
    batch = torch.export.Dim(BATCH_AXIS)
    with _quiet():
        program = torch.export.export(module, args, dynamic_shapes=tuple({0: batch} for _ in args), strict=True)
        onnx_program = torch.onnx.export(program, args, input_names=list(part.inputs), output_names=[part.output],
                                         dynamo=True, external_data=False, verbose=False)
    proto = onnx_program.model_proto
    _name_batch_axes(proto)
    return proto


def _name_batch_axes(proto) -> None:
    """Call the first axis of every graph input and output `batch`, and refuse a graph whose batch is fixed."""
    graph = proto.graph
    symbols = set()
    for value in [*graph.input, *graph.output]:
        first = value.type.tensor_type.shape.dim[0]
        if not first.dim_param:
            raise RuntimeError(f"the exported graph fixes {value.name}'s batch size to {first.dim_value}")
        symbols.add(first.dim_param)
    if len(symbols) != 1:
        raise RuntimeError(f"the exported graph has several batch axes ({sorted(symbols)})")
    symbol = symbols.pop()
    for value in [*graph.input, *graph.output, *graph.value_info]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param == symbol:
                dim.dim_param = BATCH_AXIS


def session(model_bytes: bytes):
    """An onnxruntime session on the CPU, for checks."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def check(part: Part, model_bytes: bytes, run: Run) -> float:
    """The largest absolute difference between onnxruntime's and PyTorch's outputs on new inputs."""
    coding_size = part.inputs["codings"].shape[1] if "codings" in part.inputs else 0
    inputs = _example_inputs(run, part.name, coding_size, CHECK_BATCH, seed=1)
    with torch.no_grad():
        expected = part.module.eval()(*inputs.values()).numpy()
    got = session(model_bytes).run(None, {name: tensor.numpy() for name, tensor in inputs.items()})[0]
    if got.shape != expected.shape:
        raise RuntimeError(f"{part.name}.onnx gives shape {got.shape}, PyTorch {expected.shape}")
    difference = float(np.max(np.abs(got - expected)))
    if not difference <= CHECK_TOLERANCE * max(1.0, float(np.max(np.abs(expected)))):
        raise RuntimeError(f"{part.name}.onnx differs from the PyTorch model by up to {difference:.3g}")
    return difference


# --- the description ----------------------------------------------------------------------------

def _tensor(name: str, shape, dtype: str) -> dict:
    return {"name": name, "shape": [BATCH_AXIS, *(int(size) for size in shape[1:])], "dtype": dtype}


def _file_description(part: Part, output_shape, proto) -> dict:
    inputs = [_tensor(name, tensor.shape, "int64" if tensor.dtype == torch.int64 else "float32")
              for name, tensor in part.inputs.items()]
    opset = next(entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx"))
    return {"what": part.summary, "inputs": inputs, "outputs": [_tensor(part.output, output_shape, "float32")],
            "opset": int(opset)}


def _scaling(run: Run) -> dict:
    """How the data's own values become the model's and back, in words and in numbers."""
    spec = run.spec
    description = {"scaling": spec.scaling, "layout": spec.layout, "sample_shape": list(spec.shape),
                   "dtype": spec.dtype, "value_range": list(spec.value_range)}
    if spec.scaling == "divide_255":
        description["to_model"] = "x / 255 (uint8 -> float32 in [0, 1])"
        description["from_model"] = "clip(round(y * 255), 0, 255) as uint8"
    elif spec.scaling == "standardize":
        shape = [spec.stat_size, 1, 1] if spec.is_image else [spec.stat_size]
        description.update(mean=list(spec.mean), std=list(spec.std), statistics_shape=shape,
                           to_model="(x - mean) / std, mean and std reshaped to statistics_shape (float32)",
                           from_model="y * std + mean")
    else:
        description["to_model"] = "x as float32"
        description["from_model"] = "y"
    if spec.is_image:
        description["image_axes"] = "channels, height, width (Pillow's arrays are height, width, channels)"
    return description


def _codings(run: Run, coding_size: int) -> dict:
    codings = {"size": coding_size,
               "prior": "standard normal" if run.can("sample") else None}
    if _num_classes(run):
        codings["labels"] = {"dtype": "int64", "range": [0, _num_classes(run) - 1],
                             "class_names": list(run.spec.class_names)}
    return codings


def _outputs(run: Run) -> dict:
    activation = getattr(run.model, "output_activation", "linear")
    unit = activation in ("sigmoid", "tanh")  # a GAN's tanh outputs are mapped back to [0, 1] by decode
    return {"activation": activation, "range": [0.0, 1.0] if unit else None}


def describe(run: Run, files: dict[str, dict], coding_size: int) -> dict:
    """export.json: what each file takes and gives, and how to go from the data to the model and back."""
    from aegan import __version__

    return {
        "format": "aegan-onnx",
        "version": 1,
        "aegan": __version__,
        "torch": torch.__version__.split("+")[0],
        "exporter": "torch.export (strict) + torch.onnx (dynamo)",
        "run": {"name": run.path.resolve().name, "preset": run.config.name, "kind": run.config.model.kind,
                "epoch": run.epoch},
        "capabilities": sorted(type(run.model).capabilities),
        "files": files,
        "codings": _codings(run, coding_size),
        "data": _scaling(run),
        "outputs": _outputs(run),
    }


def _refuse_a_file(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise AeganError(f"output folder {out} is a file: choose another --out")


def _make_folder(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AeganError(f"cannot create output folder {out} ({error.strerror or error}): choose a writable --out") \
            from None
    if not os.access(out, os.W_OK):
        raise AeganError(f"cannot write to output folder {out}: choose a writable --out")
    return out


def export_onnx(run: Run | str | os.PathLike, out_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Write the run's encoder.onnx and/or decoder.onnx and export.json into `out_dir` (default RUN/onnx).

    Returns the written files by name: "encoder", "decoder" (those the model can give) and "export".
    """
    require_onnx()
    run = run if isinstance(run, Run) else Run(run)
    if type(run.model).training_loop == "diffusion":
        raise AeganError(f"aegan export --onnx {run.path}: a {run.config.model.kind} run samples by a loop of "
                         "denoiser calls, which the ONNX files here do not hold; export autoencoder, VAE and GAN runs")
    run.model.eval()
    out = Path(out_dir) if out_dir is not None else run.path / "onnx"
    _refuse_a_file(out)
    coding_size = coding_size_of(run)
    exported, descriptions = {}, {}
    for part in parts(run, coding_size):
        proto = to_onnx(part)
        model_bytes = proto.SerializeToString()
        check(part, model_bytes, run)
        with torch.no_grad():
            output_shape = part.module(*part.inputs.values()).shape
        exported[part.name] = model_bytes
        descriptions[f"{part.name}.onnx"] = _file_description(part, output_shape, proto)
    _make_folder(out)
    written = {name: atomic_write_bytes(out / f"{name}.onnx", model_bytes) for name, model_bytes in exported.items()}
    written["export"] = atomic_write_json(out / EXPORT_FILE, describe(run, descriptions, coding_size))
    return written


__all__ = ["EXPORT_FILE", "export_onnx", "require_onnx"]
