"""Every bad data input: one line naming the file and the fix, exit status 2, nothing written."""

import numpy as np
import pytest
from PIL import Image

from aegan.cli import main
from test_cli import assert_user_error


class _Result:
    def __init__(self, returncode, stderr):
        self.returncode, self.stderr = returncode, stderr


def run_cli(*args):
    """The CLI in this process (the subprocess form costs a torch import per call)."""
    import contextlib
    import io

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in args])
    return _Result(code, stderr.getvalue())


def _images(folder, sizes):
    folder.mkdir(parents=True, exist_ok=True)
    for index, (height, width) in enumerate(sizes):
        Image.fromarray(np.full((height, width, 3), 100, dtype=np.uint8)).save(folder / f"{index}.png")
    return folder


def _bad_inputs(tmp_path):
    cases = {}
    folder = _images(tmp_path / "unreadable", [(8, 8)] * 4)
    (folder / "broken.png").write_bytes(b"not a png at all")
    cases["unreadable"] = (folder, [], ["broken.png"])
    cases["mixed sizes"] = (_images(tmp_path / "mixed", [(8, 8), (8, 8), (10, 12)]), [], ["data.image_size"])
    (tmp_path / "empty").mkdir()
    cases["empty folder"] = (tmp_path / "empty", [], ["empty"])
    (tmp_path / "cell.csv").write_text("a,b\n1,2\n3,abc\n5,6\n")
    cases["not a number"] = (tmp_path / "cell.csv", [], ["cell.csv", "abc"])
    (tmp_path / "nan.csv").write_text("a,b\n1,2\n3,nan\n5,6\n")
    cases["nan cell"] = (tmp_path / "nan.csv", [], ["nan.csv", "nan"])
    np.save(tmp_path / "inf.npy", np.array([[1.0, np.inf]] * 5))
    cases["infinity"] = (tmp_path / "inf.npy", [], ["inf.npy"])
    np.save(tmp_path / "x.npy", np.zeros((6, 3), dtype=np.float32))
    np.save(tmp_path / "y.npy", np.zeros(5, dtype=np.int64))
    cases["labels of the wrong length"] = (tmp_path / "x.npy", ["--set", f"data.labels_path={tmp_path / 'y.npy'}"],
                                           ["y.npy", "5"])
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}] * 4, dtype=object), allow_pickle=True)
    cases["pickled array"] = (tmp_path / "pickled.npy", [], ["pickled.npy"])
    cases["missing"] = (tmp_path / "nowhere.npy", [], ["nowhere.npy", "does not exist"])
    return cases


def test_every_bad_data_input_is_one_line_and_writes_nothing(tmp_path):
    for name, (path, extra, fragments) in _bad_inputs(tmp_path).items():
        out = tmp_path / f"run-{name.replace(' ', '-')}"
        result = run_cli("train", "stacked_ae", "--data", path, "--epochs", "1", "--out", out, *extra)
        assert_user_error(result, *fragments)
        assert not out.exists(), name


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table")
    (folder / "t.csv").write_text("a,b,c\n" + "".join(f"{i},{2 * i},{i % 3}\n" for i in range(40)))
    result = run_cli("train", "stacked_ae", "--data", folder / "t.csv", "--epochs", "1", "--out", folder / "run",
                     "--quiet")
    assert result.returncode == 0, result.stderr
    return folder


def test_data_that_does_not_fit_the_run_is_refused(table_run, tmp_path):
    (tmp_path / "other.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    result = run_cli("score", table_run / "run", tmp_path / "other.csv", "--out", tmp_path / "scores.csv")
    assert_user_error(result, "other.csv", "trained on")
    assert not (tmp_path / "scores.csv").exists()
    np.save(tmp_path / "images.npy", np.zeros((4, 1, 8, 8), dtype=np.uint8))
    assert_user_error(run_cli("score", table_run / "run", tmp_path / "images.npy"), "images.npy", "trained on")


def test_images_with_other_channels_than_the_run_are_refused(tmp_path):
    rgb = tmp_path / "rgb"
    rgb.mkdir()
    for index in range(30):
        Image.fromarray(np.full((8, 8, 3), index * 8, dtype=np.uint8)).save(rgb / f"{index}.png")
    assert run_cli("train", "conv_ae", "--data", rgb, "--epochs", "1", "--out", tmp_path / "run",
                   "--quiet").returncode == 0
    gray = tmp_path / "gray"
    gray.mkdir()
    for index in range(3):
        Image.fromarray(np.full((8, 8), 9, dtype=np.uint8)).save(gray / f"{index}.png")
    result = run_cli("score", tmp_path / "run", gray, "--out", tmp_path / "scores.csv")
    assert_user_error(result, "gray", "trained on image 3x8x8", "give RGB images of 8x8")
    assert not (tmp_path / "scores.csv").exists()
