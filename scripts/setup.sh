#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment in .venv with aegan and its test tools,
# the CPU build of PyTorch where there is no CUDA GPU, and, where apt is available,
# Fashion-MNIST from Debian's package `dataset-fashion-mnist` and Chromium (package `chromium`,
# which the report test drives headless). Each is installed only when it is missing.
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

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_updated=""
apt_install() {  # apt_install PACKAGE: quietly, refreshing the package lists once
    if [ -z "$apt_updated" ]; then
        $sudo apt-get update -qq || return 1
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$1" >/dev/null
}

if .venv/bin/aegan data >/dev/null 2>&1; then
    .venv/bin/aegan data | sed -n 1p
elif command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Fashion-MNIST (Debian package dataset-fashion-mnist)"
    if apt_install dataset-fashion-mnist; then
        .venv/bin/aegan data | sed -n 1p
    else
        echo "setup: could not install dataset-fashion-mnist with apt-get; see 'Data' in README.md" >&2
    fi
else
    echo "setup: Fashion-MNIST not found and apt-get is not available." >&2
    echo "  Put the four files {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz from the official" >&2
    echo "  Fashion-MNIST repository into a folder and set AEGAN_DATA_DIR to it (see README.md)." >&2
fi

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    :
elif command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Chromium (Debian package chromium, for the report test)"
    if ! apt_install chromium; then
        echo "setup: could not install chromium with apt-get; tests/test_report.py needs it (apt-get install chromium)" >&2
    fi
else
    echo "setup: Chromium not found and apt-get is not available: tests/test_report.py needs a headless" >&2
    echo "  chromium (or chromium-browser) on PATH; it skips without one, and fails where CI is set." >&2
fi
