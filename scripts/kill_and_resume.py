"""A full-size run killed at 5 random moments with SIGKILL and resumed each time, against an
uninterrupted one: the final checkpoints' sha256 must be equal.

    .venv/bin/python scripts/kill_and_resume.py    # stacked_ae, 20 epochs on Fashion-MNIST (about 2 minutes)

Each process is killed 4 to 7.5 s after it starts (its start-up included), so kills land in
the middle of epochs and checkpoint writes; checkpoints are written every 500 steps.
"""
from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AEGAN = [sys.executable, "-m", "aegan"]
TRAIN = ["train", "stacked_ae", "--quiet", "--set", "training.checkpoint_every_steps=500"]


def newest_sha(run: Path) -> tuple[str, str]:
    newest = sorted((run / "checkpoints").glob("epoch-*.safetensors"))[-1]
    return newest.name, hashlib.sha256(newest.read_bytes()).hexdigest()


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="kill-and-resume-"))
    started = time.time()
    subprocess.run(AEGAN + TRAIN + ["--out", str(root / "full")], check=True, capture_output=True)
    print(f"uninterrupted ({time.time() - started:.0f} s): {newest_sha(root / 'full')}")
    rng = random.Random(7)
    command = AEGAN + TRAIN + ["--out", str(root / "killed")]
    for kill in range(1, 6):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        delay = rng.uniform(4, 7.5)
        time.sleep(delay)
        if process.poll() is not None:
            print(f"kill {kill}: the run had finished")
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        newest = sorted((root / "killed" / "checkpoints").glob("epoch-*.json"))[-1].name
        print(f"kill {kill}: SIGKILL after {delay:.1f} s; newest checkpoint then {newest}")
        command = AEGAN + ["train", "--resume", str(root / "killed"), "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True)
    print(f"last resume: exit status {result.returncode}, {result.stderr.strip().splitlines()[-1:]}")
    full, killed = newest_sha(root / "full"), newest_sha(root / "killed")
    print(f"resumed: {killed}; identical to the uninterrupted run: {full == killed}")


if __name__ == "__main__":
    main()
