"""The README's Python example runs as written, on the real data."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_opens_with_the_two_commands():
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), flags=re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make demo", "make test"]


@pytest.mark.slow  # trains on the real data, and the scikit-learn example runs a grid search
def test_readme_python_example_runs(fashion, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks()
    assert blocks
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    run = namespace["run"]
    assert (tmp_path / "runs" / "api-example" / "reconstructions.png").stat().st_size > 1000
    assert (tmp_path / "runs" / "api-example" / "tsne.png").stat().st_size > 1000
    assert namespace["codings"].shape == (5000, 30)
    assert namespace["reconstructions"].shape == (5, 1, 28, 28)
    assert run.metrics()[-1]["val_loss"] < 0.33  # one epoch of the recipe reaches about 0.31
