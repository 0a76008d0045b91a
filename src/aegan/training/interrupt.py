"""SIGINT and SIGTERM during training: finish the current step, write a checkpoint, stop.

`with StopRequests() as stop:` replaces the two handlers by one that only notes the signal
(a second one gets the default behaviour back: Ctrl-C twice still stops at once); the loop asks
`stop.requested` after each step. Outside the main thread (where Python cannot set handlers)
it does nothing.
"""

from __future__ import annotations

import signal
import threading


class StopRequests:
    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = 0
        self._previous: dict = {}

    @property
    def name(self) -> str:
        return signal.Signals(self.requested).name if self.requested else ""

    def _handle(self, number, frame) -> None:
        if self.requested:  # a second signal: as if we had never caught it
            signal.signal(number, self._previous.get(number, signal.SIG_DFL))
            signal.raise_signal(number)
            return
        self.requested = number

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            for number in self.SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()
