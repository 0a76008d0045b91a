"""Every family's example script runs on tiny real data and writes the files its docstring promises."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
OTHER_SCRIPTS = {"onnx_sample.py", "example_setup.py"}  # not family examples (onnx_sample: tested with the ONNX export)

# example -> the files it writes into --out
PROMISED = {
    "dense_ae": ["reconstructions.png", "codings-tsne.png", "run/evaluation.json"],
    "conv_ae": ["reconstructions.png", "denoising.png", "codings-tsne.png"],
    "recurrent_ae": ["reconstructions.png", "codings-tsne.png", "run/evaluation.json"],
    "vae": ["reconstructions.png", "samples.png", "interpolations.png", "codings-tsne.png", "run/evaluation.json"],
    "conv_vae": ["reconstructions.png", "samples.png", "interpolations.png", "run/evaluation.json"],
    "gan": ["samples.png", "interpolations.png", "run/samples/progress.gif", "run/evaluation.json"],
    "dcgan": ["samples.png", "interpolations.png", "run/samples/progress.gif", "run/evaluation.json"],
    "progan": ["samples.png", "interpolations.png", "run/samples/progress.gif", "run/evaluation.json"],
    "stylegan": ["samples.png", "truncation.png", "style-mixing.png", "run/evaluation.json"],
    "ddpm": ["samples.png", "samples-250-steps.png", "interpolations.png", "run/samples/progress.gif",
             "run/evaluation.json"],
}


def run_example(name: str, folder: Path, cache: Path) -> subprocess.CompletedProcess:
    # One thread each: two examples run at once, and OpenMP (t-SNE) crawls when it has to share cores.
    environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", AEGAN_CACHE_DIR=str(cache))
    return subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--tiny", "--out", str(folder / name)],
                          capture_output=True, text=True, env=environment, timeout=300)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Every example run once with --tiny, two at a time: name -> (completed process, its --out folder)."""
    folder = tmp_path_factory.mktemp("examples")
    cache = folder / "cache"  # the feature classifier of the digits, trained once for all samplers
    with ThreadPoolExecutor(max_workers=2) as pool:
        processes = dict(zip(PROMISED, pool.map(lambda name: run_example(name, folder, cache), PROMISED)))
    return {name: (process, folder / name) for name, process in processes.items()}


def test_every_example_script_is_tested():
    scripts = {path.stem for path in EXAMPLES.glob("*.py") if path.name not in OTHER_SCRIPTS}
    assert scripts == set(PROMISED)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PROMISED))
def test_example_runs_and_writes_its_files(finished, name):
    process, out = finished[name]
    assert process.returncode == 0, process.stderr[-3000:]
    for promised in PROMISED[name]:
        path = out / promised
        assert path.is_file(), f"{name} did not write {promised}"
        if path.suffix in (".png", ".gif"):
            with Image.open(path) as image:
                assert image.format == path.suffix[1:].upper()
                image.verify()
            assert path.stat().st_size > 1000
        elif path.suffix == ".json":
            report = json.loads(path.read_text())
            assert report["preset"] == name.replace("dense_ae", "stacked_ae")


@pytest.mark.parametrize("name", list(PROMISED))
def test_example_help_names_its_options(name):
    process = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--help"], capture_output=True,
                             text=True, timeout=60)
    assert process.returncode == 0
    assert all(option in process.stdout for option in ("--epochs", "--out", "--tiny"))
