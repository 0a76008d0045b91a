#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment in .venv with aegan and its test tools,
# the CPU build of PyTorch where there is no CUDA GPU, and Fashion-MNIST from Debian's
# package `dataset-fashion-mnist` where apt is available.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup: aegan needs Python >= 3.11; found $("$PYTHON" --version 2>&1). Install it, then run: make PYTHON=python3.11" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi

constraints=()
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: CUDA GPU found: installing PyTorch with CUDA"
else
    echo "setup: no CUDA GPU: installing PyTorch's CPU build (constraints/cpu.txt)"
    constraints=(-c constraints/cpu.txt)
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check "${constraints[@]}" -e '.[dev]' 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
.venv/bin/python -c 'import aegan, torch; print(f"setup: aegan {aegan.__version__} with torch {torch.__version__}")'

if .venv/bin/aegan data >/dev/null 2>&1; then
    .venv/bin/aegan data | sed -n 1p
elif command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing Fashion-MNIST (Debian package dataset-fashion-mnist)"
    if $sudo apt-get update -qq && $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null; then
        .venv/bin/aegan data | sed -n 1p
    else
        echo "setup: could not install dataset-fashion-mnist with apt-get; see 'Data' in README.md" >&2
    fi
else
    echo "setup: Fashion-MNIST not found and apt-get is not available." >&2
    echo "  Put the four files {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz from the official" >&2
    echo "  Fashion-MNIST repository into a folder and set AEGAN_DATA_DIR to it (see README.md)." >&2
fi
