"""The one exception type for mistakes a user can fix."""

import difflib


class AeganError(ValueError):
    """A user error: the message names the bad value, what was expected and the fix."""


def closest(name: str, choices) -> str:
    """A ' (did you mean X?)' hint for `name`, or '' when nothing is close."""
    if not isinstance(name, str):
        return ""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


class TrainingDiverged(AeganError):
    """Training stopped because a loss became NaN or infinite, or rose far above its best.

    The run keeps its last good checkpoint; the CLI exits with status 3 (EXIT_DIVERGED)."""


class TrainingInterrupted(AeganError):
    """Training stopped at a SIGINT or SIGTERM after writing a checkpoint; the message says how to resume.
    The CLI exits with 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, message: str, signal_number: int = 2):
        super().__init__(message)
        self.signal_number = signal_number
