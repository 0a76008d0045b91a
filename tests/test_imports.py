"""`import aegan` and `aegan --help` stay quick: no heavy package is imported until it is needed,
and drawing a figure never picks the matplotlib backend for the user."""

import json
import subprocess
import sys

HEAVY = ("torch", "matplotlib", "sklearn", "scipy", "tensorboard", "onnx", "onnxruntime", "pandas")


def loaded_after(code: str) -> list[str]:
    """The heavy top-level packages in sys.modules after running `code` in a fresh interpreter."""
    probe = (f"import sys\n{code}\nimport json\n"
             f"print(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}} & set({HEAVY!r}))))")
    process = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout.strip().splitlines()[-1])


def test_import_aegan_loads_no_heavy_package():
    assert loaded_after("import aegan") == []


def test_help_loads_no_heavy_package():
    code = ("from aegan.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit as exit:\n    assert exit.code == 0\n")
    assert loaded_after(code) == []


def test_command_help_runs():
    process = subprocess.run([sys.executable, "-m", "aegan", "--help"], capture_output=True, text=True, timeout=120)
    assert process.returncode == 0 and "train" in process.stdout


def test_public_names_resolve_on_first_use():
    code = ("import aegan\n"
            "assert set(aegan.__all__) <= set(dir(aegan))\n"
            "assert all(callable(getattr(aegan, name)) for name in aegan.__all__ if name != 'CLASS_NAMES')\n"
            "assert aegan.Run.__module__ == 'aegan.runs' and len(aegan.CLASS_NAMES) == 10\n"
            "assert aegan.api.train is aegan.train  # submodules too, after a plain import aegan\n")
    assert "torch" in loaded_after(code)


def test_figures_leave_the_matplotlib_backend_alone(tmp_path):
    code = ("import matplotlib\n"
            "matplotlib.use('svg')\n"
            "import numpy as np\n"
            "import aegan\n"
            "from aegan.plots import plot_image_grid\n"
            f"plot_image_grid(np.zeros((2, 1, 8, 8)), {str(tmp_path / 'grid.png')!r})\n"
            "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n")
    assert "matplotlib" in loaded_after(code)
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
