import os
import subprocess
import sys

import pytest

from aegan.data import find_fashion_mnist
from aegan.errors import AeganError


@pytest.fixture(scope="session")
def fashion():
    """The real Fashion-MNIST; real-data tests skip without it, except where CI requires it."""
    try:
        find_fashion_mnist()
    except AeganError as error:
        if os.environ.get("AEGAN_REQUIRE_DATA"):
            pytest.fail(f"AEGAN_REQUIRE_DATA is set but {error}")
        pytest.skip("Fashion-MNIST is not installed (make test installs it)")
    from aegan.data import load_fashion_mnist

    return load_fashion_mnist()


def run_cli(*args, env=None, cwd=None):
    """Run `python -m aegan ARGS`; return the CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "aegan", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="session")
def trained_run(fashion, tmp_path_factory):
    """A stacked autoencoder trained for one epoch on the real data (shared by several tests)."""
    import aegan

    return aegan.train("stacked_ae", epochs=1, out=tmp_path_factory.mktemp("runs") / "one-epoch",
                       progress=False, log=lambda message: None)


@pytest.fixture(scope="session")
def random_images(tmp_path_factory):
    """240 random 1x8x8 uint8 images in a .npy file: tiny data for training tests."""
    import numpy as np

    path = tmp_path_factory.mktemp("data") / "images.npy"
    np.save(path, (np.random.default_rng(0).random((240, 1, 8, 8)) * 255).astype(np.uint8))
    return path
