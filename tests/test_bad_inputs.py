"""The bad-input suite: CLI arguments, configs, data files and run folders, one case each.

Every case must exit with status 2 and print one line that contains the expected fragments,
and must leave every existing file as it was (and create none) in the workspace it ran in.
"""

import contextlib
import hashlib
import io
import pickle

import numpy as np
import pytest

from aegan.cli import main


def run(*args) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit_:  # argparse's own errors
            code = exit_.code
    return code, stderr.getvalue()


def snapshot(folder) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    w = tmp_path_factory.mktemp("workspace")
    rng = np.random.default_rng(0)
    np.save(w / "table.npy", rng.normal(size=(60, 5)).astype(np.float32))
    np.save(w / "images.npy", (rng.random((60, 1, 8, 8)) * 255).astype(np.uint8))
    np.save(w / "few.npy", np.zeros((2, 3), dtype=np.float32))
    np.save(w / "inf.npy", np.array([[1.0, np.inf]] * 5))
    np.save(w / "labels.npy", np.zeros(7, dtype=np.int64))
    (w / "pickled.npy").write_bytes(pickle.dumps({"not": "an array"}))
    np.savez(w / "arrays.npz", x=np.zeros((6, 3), dtype=np.float32), labels=np.arange(6) % 2)
    (w / "text.csv").write_text("a,b\n1,2\n3,abc\n5,6\n")
    (w / "nan.csv").write_text("a,b\n1,2\n3,nan\n5,6\n")
    (w / "good.csv").write_text("a,b,kind\n" + "".join(f"{i},{i % 7},{'xy'[i % 2]}\n" for i in range(40)))
    (w / "empty").mkdir()
    (w / "bad.toml").write_text("[model\nkind = 'dense_ae'\n")
    (w / "section.toml").write_text("[model]\nkind = 'dense_ae'\n[optimiser]\nlr = 1\n")
    (w / "afile").write_text("x")
    for name, args in (("ae", ["stacked_ae", "--data", w / "images.npy"]),
                       ("table-run", ["stacked_ae", "--data", w / "good.csv", "--set", "training.learning_rate=0.01",
                                      "--set", "data.label_column=kind"])):
        code, err = run("train", *args, "--epochs", "1", "--out", w / name, "--quiet")
        assert code == 0, err
    return w


def cases(w):
    train = ["train", "stacked_ae", "--out", w / "new-run"]
    table = ["train", "stacked_ae", "--data", w / "table.npy", "--out", w / "new-run"]
    return {
        "unknown preset": (["train", "stacked_a", "--out", w / "new-run"], ["did you mean 'stacked_ae'"]),
        "zero epochs": ([*train, "--epochs", "0"], ["--epochs"]),
        "epochs not a number": ([*train, "--epochs", "abc"], ["'abc'"]),
        "negative batch size": ([*train, "--batch-size", "-1"], ["--batch-size"]),
        "negative seed": ([*train, "--seed", "-3"], ["--seed"]),
        "override without =": ([*table, "--set", "training.learning_rate"], ["KEY=VALUE"]),
        "unknown key": ([*table, "--set", "training.learnin_rate=1"], ["did you mean 'training.learning_rate'"]),
        "nan learning rate": ([*table, "--set", "training.learning_rate=nan"], ["finite"]),
        "negative learning rate": ([*table, "--set", "training.learning_rate=-1"], ["training.learning_rate=-1"]),
        "unknown optimizer": ([*table, "--set", "training.optimizer='adamw'"], ["training.optimizer='adamw'"]),
        "word for a size": ([*table, "--set", "model.coding_size=big"], ["whole number"]),
        "momentum of 1.5": ([*table, "--set", "training.momentum=1.5"], ["training.momentum=1.5"]),
        "validation fraction 0.7": ([*table, "--set", "data.validation_fraction=0.7"], ["validation_fraction"]),
        "two channels": ([*table, "--set", "data.channels=2"], ["data.channels=2"]),
        "image size 0": ([*table, "--set", "data.image_size=[0,5]"], ["data.image_size"]),
        "unknown format": ([*table, "--set", "data.format='tiff'"], ["data.format='tiff'"]),
        "divergence factor 0.5": ([*table, "--set", "training.divergence_factor=0.5"], ["divergence_factor"]),
        "keep no checkpoint": ([*table, "--set", "training.keep_checkpoints=0"], ["keep_checkpoints"]),
        "kind as a list": ([*table, "--set", "model.kind=[]"], ["model.kind"]),
        "out holds a run": (["train", "stacked_ae", "--data", w / "table.npy", "--out", w / "ae"], ["another run"]),
        "out is a file": (["train", "stacked_ae", "--data", w / "table.npy", "--out", w / "afile"], ["is a file"]),
        "missing toml": (["train", w / "nothing.toml", "--out", w / "new-run"], ["does not exist"]),
        "broken toml": (["train", w / "bad.toml", "--out", w / "new-run"], ["not valid TOML"]),
        "unknown section": (["train", w / "section.toml", "--out", w / "new-run"], ["unknown section 'optimiser'"]),
        "missing data": ([*train, "--data", w / "nowhere.npy"], ["does not exist"]),
        "empty folder": ([*train, "--data", w / "empty"], ["empty"]),
        "pickled array": ([*train, "--data", w / "pickled.npy"], ["pickled.npy"]),
        "csv text cell": ([*train, "--data", w / "text.csv"], ["text.csv", "abc"]),
        "csv nan cell": ([*train, "--data", w / "nan.csv"], ["nan.csv"]),
        "infinity in npy": ([*train, "--data", w / "inf.npy"], ["inf.npy"]),
        "two samples": ([*train, "--data", w / "few.npy"], ["few.npy"]),
        "labels of another length": ([*train, "--data", w / "table.npy", "--set",
                                      f"data.labels_path='{w / 'labels.npy'}'"], ["labels.npy"]),
        "labels_path with an npz": ([*train, "--data", w / "arrays.npz", "--set",
                                     f"data.labels_path='{w / 'labels.npy'}'"], ["arrays.npz"]),
        "label column not there": ([*train, "--data", w / "good.csv", "--set", "data.label_column='knd'"], ["knd"]),
        "empty data dir": ([*train, "--data-dir", w / "empty"], [str(w / "empty")]),
        "conv model on a table": (["train", "dcgan", "--data", w / "table.npy", "--out", w / "new-run"], ["image"]),
        "cgan without labels": (["train", "cgan", "--data", w / "images.npy", "--out", w / "new-run"], ["labels"]),
        "shape from another data set": ([*table, "--set", "model.input_shape=[28,28]"], ["model.input_shape"]),
        "gan batch over the data": (["train", "gan", "--data", w / "images.npy", "--batch-size", "500", "--out",
                                     w / "new-run"], ["training.batch_size=500"]),
        "resume a non-run": (["train", "--resume", w / "empty"], ["not a run folder"]),
        "resume a finished run": (["train", "--resume", w / "ae"], ["nothing to resume"]),
        "resume with flags": (["train", "--resume", w / "ae", "--seed", "3"], ["drop --seed"]),
        "resume changing the model": (["train", "--resume", w / "ae", "--set", "model.coding_size=3"],
                                      ["only training.num_epochs"]),
        "resume at a bad rate": (["train", "--resume", w / "ae", "--set", "training.learning_rate=-1"],
                                 ["training.learning_rate"]),
        "train without preset": (["train"], ["PRESET"]),
        "sample an autoencoder": (["sample", w / "ae", "--out", w / "s.png"], ["cannot sample"]),
        "interpolate an autoencoder": (["interpolate", w / "ae", "--out", w / "i.png"], ["cannot interpolate"]),
        "sample zero images": (["sample", w / "ae", "-n", "0"], ["-n"]),
        "reconstruct a non-run": (["reconstruct", w / "empty"], ["not a run folder"]),
        "unknown split": (["encode", w / "ae", "--split", "bogus"], ["--split"]),
        "score data of another shape": (["score", w / "table-run", w / "images.npy", "--out", w / "s.csv"],
                                        ["images.npy", "trained on"]),
        "score other columns": (["score", w / "table-run", w / "text.csv", "--out", w / "s.csv"], ["text.csv"]),
        "contamination 0.9": (["score", w / "ae", w / "images.npy", "--contamination", "0.9", "--out",
                               w / "s.csv"], ["--contamination 0.9"]),
        "evaluate a non-run": (["evaluate", w / "empty"], ["not a run folder"]),
        "classify with 5 labels": (["classify", w / "ae", "--labels", "5"], ["--labels"]),
        "classify without labels": (["classify", w / "ae"], ["class labels"]),
        "describe missing data": (["data", w / "nowhere.csv"], ["does not exist"]),
        "denoising figure of a plain run": (["reconstruct", w / "ae", "--noise", "--out", w / "d.png"],
                                            ["without input noise"]),
    }


def test_there_are_at_least_forty_cases(tmp_path):
    assert len(cases(tmp_path)) >= 40


@pytest.mark.parametrize("name", list(cases(__import__("pathlib").Path("/w"))))
def test_bad_input(workspace, name):
    args, fragments = cases(workspace)[name]
    before = snapshot(workspace)
    code, stderr = run(*args)
    lines = stderr.strip().splitlines()
    assert code == 2, (name, stderr)
    assert len(lines) == 1 and "Traceback" not in stderr, (name, stderr)
    for fragment in fragments:
        assert fragment in lines[0], (name, lines[0])
    assert snapshot(workspace) == before, name  # nothing changed, nothing new
