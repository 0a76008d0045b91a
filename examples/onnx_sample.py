"""New images from an exported GAN or VAE, with onnxruntime, NumPy and Pillow only (no torch, no aegan).

    aegan export RUN --onnx
    python examples/onnx_sample.py RUN/onnx --out samples.png

Reads export.json beside the ONNX files, draws codings from the standard normal prior, runs
decoder.onnx on them and saves the outputs as a PNG grid. A conditional GAN gets one column per
class (its class indices go in beside the codings).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import onnxruntime
from PIL import Image

IMAGE_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def read_description(folder: Path) -> dict:
    """export.json, refusing an export that cannot sample images."""
    path = folder / "export.json"
    if not path.is_file():
        raise SystemExit(f"{folder} has no export.json: pass the folder written by `aegan export RUN --onnx`")
    description = json.loads(path.read_text())
    if "decoder.onnx" not in description["files"] or description["codings"]["prior"] != "standard normal":
        raise SystemExit(f"{folder} holds a {description['run']['kind']} model, whose codings have no prior to "
                         "sample from: export a VAE or a GAN")
    if description["data"]["layout"] != "image":
        raise SystemExit(f"{folder}: the model makes {description['data']['layout']} samples, not images")
    return description


def decoder_inputs(description: dict, n: int, seed: int) -> tuple[dict[str, np.ndarray], int]:
    """Codings from the prior (and class indices for a conditional GAN), and the grid's columns."""
    rng = np.random.default_rng(seed)
    inputs = {"codings": rng.standard_normal((n, description["codings"]["size"])).astype(np.float32)}
    columns = math.ceil(math.sqrt(n))
    labels = description["codings"].get("labels")
    if labels:
        num_classes = labels["range"][1] + 1
        inputs["labels"] = (np.arange(n) % num_classes).astype(np.int64)
        columns = min(n, num_classes)
    return inputs, columns


def to_pixels(outputs: np.ndarray, data: dict) -> np.ndarray:
    """Decoder outputs (N, C, H, W) in the model's scale as uint8 pixels (N, H, W, C)."""
    if data["scaling"] == "standardize":
        shape = data["statistics_shape"]
        outputs = outputs * np.reshape(data["std"], shape) + np.reshape(data["mean"], shape)
    if data["scaling"] != "divide_255":  # the data's own units: shown across the training data's range
        low, high = data["value_range"]
        if low < 0 or high > 1:
            outputs = (outputs - low) / max(high - low, 1e-12)
    pixels = np.clip(np.round(outputs * 255), 0, 255).astype(np.uint8)
    return pixels.transpose(0, 2, 3, 1)


def grid(pixels: np.ndarray, columns: int, scale: int, gap: int = 1) -> Image.Image:
    """Images (N, H, W, C) side by side, `columns` to a row, each enlarged `scale` times."""
    count, height, width, channels = pixels.shape
    if channels not in IMAGE_MODES:
        raise SystemExit(f"images with {channels} channels cannot be saved as a PNG")
    rows = math.ceil(count / columns)
    sheet = np.zeros((rows * (height + gap) - gap, columns * (width + gap) - gap, channels), dtype=np.uint8)
    for index, image in enumerate(pixels):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        sheet[top:top + height, left:left + width] = image
    picture = Image.fromarray(sheet[..., 0] if channels == 1 else sheet, IMAGE_MODES[channels])
    return picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the folder written by `aegan export RUN --onnx`")
    parser.add_argument("--out", type=Path, default=Path("samples.png"), help="PNG file (default samples.png)")
    parser.add_argument("-n", "--n", type=int, default=16, help="number of images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=int, default=2, help="each pixel drawn as scale x scale pixels")
    args = parser.parse_args(argv)

    description = read_description(args.folder)
    session = onnxruntime.InferenceSession(str(args.folder / "decoder.onnx"), providers=["CPUExecutionProvider"])
    inputs, columns = decoder_inputs(description, args.n, args.seed)
    (outputs,) = session.run(None, inputs)
    grid(to_pixels(outputs, description["data"]), columns, args.scale).save(args.out)
    print(f"{args.out}  ({args.n} images from {args.folder / 'decoder.onnx'})")


if __name__ == "__main__":
    main()
