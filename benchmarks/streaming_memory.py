"""Peak resident memory of training on a .npy larger than it: streamed against the file's size.

    .venv/bin/python benchmarks/streaming_memory.py                  # about 2 GB of images
    .venv/bin/python benchmarks/streaming_memory.py --gigabytes 0.5 --keep /tmp/big

Writes a uint8 array of Fashion-MNIST training images (shifted copies, so no two rows are the
same) of the size asked for, without holding it in memory, then trains `stacked_ae` on it for
one epoch with data.stream=always in a child process and reports the child's peak resident
memory (ru_maxrss) next to the file's size, and the same for an in-memory run of a small slice
as a reference for what the process costs without data.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_array(path: Path, gigabytes: float) -> int:
    """A (N, 28, 28) uint8 .npy of about `gigabytes`, written in chunks; returns N."""
    from aegan.data import load_fashion_mnist

    images = load_fashion_mnist().train_images
    rows = int(gigabytes * 1e9) // images[0].size
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(rows, 28, 28))
    rng = np.random.default_rng(0)
    for start in range(0, rows, len(images)):
        count = min(len(images), rows - start)
        shift = tuple(int(s) for s in rng.integers(-3, 4, size=2))
        array[start:start + count] = np.roll(images[:count], shift, axis=(1, 2))
        array.flush()
    del array
    return rows


def train_child(data: Path, out: Path, stream: str) -> tuple[float, float]:
    """(peak resident MB, seconds) of `aegan train stacked_ae` on `data` in a fresh process."""
    command = [sys.executable, "-m", "aegan", "train", "stacked_ae", "--data", str(data), "--epochs", "1",
               "--quiet", "--out", str(out), "--set", f"data.stream={stream}"]
    script = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", script, *command], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"training failed:\n{result.stderr[-2000:]}")
    return int(result.stdout.strip().splitlines()[-1]) / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--keep", help="folder for the array and runs (default: a temporary one, removed)")
    parser.add_argument("--results", action="store_true", help="write the measurement into docs/RESULTS.md")
    args = parser.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    print(f"CPU: {cpu}; Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="streaming-") as temporary:
        folder = Path(args.keep or temporary)
        folder.mkdir(parents=True, exist_ok=True)
        data = folder / "images.npy"
        started = time.perf_counter()
        rows = write_array(data, args.gigabytes)
        size_mb = data.stat().st_size / 1e6
        print(f"wrote {data} ({rows:,} images, {size_mb:,.0f} MB) in {time.perf_counter() - started:.0f} s")
        small = folder / "small.npy"
        np.save(small, np.load(data, mmap_mode="r")[:10000])
        reference_mb, _ = train_child(small, folder / "run-small-in-memory", "never")
        peak_mb, seconds = train_child(data, folder / "run-streamed", "always")
        lines = [f"- CPU: {cpu}",
                 f"- in memory, a 10,000-image file (7.8 MB; the process without data): peak resident "
                 f"{reference_mb:,.0f} MB",
                 f"- streamed, one epoch of `stacked_ae` over {int(rows * 0.8):,} training images of a "
                 f"{size_mb:,.0f} MB `.npy`: peak resident {peak_mb:,.0f} MB = {peak_mb / size_mb:.2f} x the file's "
                 f"size, {seconds:.0f} s in all"]
        print("\n".join(lines))
        if args.results:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
            from results_page import write_section

            write_section("streaming-memory", "## Training on a .npy larger than memory allows\n\n"
                          "`benchmarks/streaming_memory.py --results` writes an array of shifted Fashion-MNIST "
                          "images and trains on it with `data.stream=always` in a child process, whose peak "
                          "resident memory (ru_maxrss) is measured:\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
