"""Property-based tests: random text, values and bytes never give anything but an AeganError.

The override parser, the config loader and every data reader are fed what hypothesis makes up;
each either works or raises an AeganError (the CLI's one line and exit status 2), never another
exception (a traceback for the user).
"""

import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aegan.config import DataConfig, apply_overrides, config_from_table, parse_override, read_toml
from aegan.data.sources import load_splits
from aegan.errors import AeganError

FAST = settings(max_examples=int(os.environ.get("AEGAN_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = ["training.learning_rate", "training.num_epochs", "training.batch_size", "training.optimizer",
        "training.seed", "training.divergence_factor", "model.coding_size", "model.hidden_sizes", "model.activation",
        "model.noise_level", "model.input_noise", "data.validation_fraction", "data.image_size", "data.channels",
        "data.scaling", "data.stream", "model.kind", "nonsense.key", "training.momentum"]
VALUES = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                   st.text(max_size=12), st.lists(st.integers(-5, 300), max_size=4))


@FAST
@given(st.text(max_size=60))
def test_the_override_parser_takes_any_text(text):
    try:
        key, _ = parse_override(text)
    except AeganError:
        return
    assert "=" in text and key == text.split("=", 1)[0].strip()


@FAST
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=5))
def test_the_config_loader_takes_any_values(overrides):
    _, table = read_toml("stacked_ae")
    try:
        config = config_from_table("stacked_ae", apply_overrides(table, overrides))
    except AeganError:
        return
    assert config.training.learning_rate > 0 and config.training.num_epochs >= 1


def _read(name: str, payload: bytes, **config) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        if name.endswith("/"):
            path.mkdir()
            for index in range(3):
                (path / f"{index}.png").write_bytes(payload[index::3])
        else:
            path.write_bytes(payload)
        try:
            load_splits(DataConfig(path=str(path), **config))
        except AeganError:
            pass


@FAST
@given(st.sampled_from(["x.npy", "x.npz", "x.csv", "train-images-idx3-ubyte", "images/"]), st.binary(max_size=600))
def test_every_reader_takes_random_bytes(name, payload):
    _read(name, payload)


@FAST
@given(st.lists(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-9, 9),
                                   st.text(max_size=4)), min_size=1, max_size=4), min_size=1, max_size=12),
       st.sampled_from(["", "column_0", "b"]))
def test_the_csv_reader_takes_random_cells(rows, label_column):
    text = "a,b,c,d\n" + "\n".join(",".join(str(cell) for cell in row) for row in rows) + "\n"
    _read("x.csv", text.encode(), label_column=label_column)


@FAST
@given(st.sampled_from([np.uint8, np.float32, np.float64, np.int64, np.bool_]),
       st.lists(st.integers(1, 6), min_size=1, max_size=4), st.sampled_from(["auto", "image", "table", "sequence"]),
       st.booleans())
def test_the_array_reader_takes_random_arrays(dtype, shape, layout, memory_map):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=shape) * 100).astype(dtype)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.npy"
        np.save(path, array)
        config = DataConfig(path=str(path), layout=layout, stream="always" if memory_map else "never")
        try:
            splits = load_splits(config)
        except AeganError:
            return
        assert len(splits.train) + len(splits.valid) + len(splits.test) == shape[0]
        assert dataclasses.asdict(splits.spec)["shape"] == tuple(splits.train.samples.shape[1:])
        assert os.path.exists(path)
