"""One folder, one writer: RUN/.lock holds the training process's pid and host while it trains.

A second process that would train into the same folder is refused with one line. A lock left
by a process that died (same host, pid no longer running) is taken over with a warning; a lock
of another host cannot be checked, so it is refused with the way to clear it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from aegan.errors import AeganError

LOCK_FILE = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


class RunLock:
    """`with RunLock(run_dir):` holds the folder's lock for the block."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_FILE
        self.held = False

    def __enter__(self) -> "RunLock":
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(2):
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._check_stale(me)
                continue
            with os.fdopen(descriptor, "w") as handle:
                json.dump(me, handle)
            self.held = True
            return self
        raise AeganError(f"{self.path} could not be taken: another process keeps taking it; try again")

    def _check_stale(self, me: dict) -> None:
        try:
            owner = json.loads(self.path.read_text())
            pid, host = int(owner["pid"]), str(owner["host"])
        except (OSError, ValueError, KeyError, TypeError):
            print(f"aegan: warning: {self.path} is unreadable; taking it over", file=sys.stderr)
            self.path.unlink(missing_ok=True)
            return
        if host != me["host"]:
            raise AeganError(f"{self.path.parent} is in use by process {pid} on host {host}: wait for it to end, or "
                             f"remove {self.path} if no process trains there")
        if pid != me["pid"] and _alive(pid):
            raise AeganError(f"{self.path.parent} is in use by process {pid} on this host: wait for it to end, or "
                             "train into another --out")
        print(f"aegan: warning: {self.path} was left by process {pid}, which is gone; taking it over",
              file=sys.stderr)
        self.path.unlink(missing_ok=True)

    def __exit__(self, *exc) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
