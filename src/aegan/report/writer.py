"""Write the report: check the runs and the output first, then draw every section, then write the
page atomically (a reader never sees half of it)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from aegan.errors import AeganError
from aegan.files import atomic_write_bytes
from aegan.report.metrics import summary_row, summary_rows
from aegan.report.page import render, table
from aegan.report.sections import SECTIONS, run_column
from aegan.runs import Run

REPORT_FILE = "report.html"


def default_output(runs: list[Run]) -> Path:
    """RUN/report.html for one run; report.html in the current folder for several."""
    return runs[0].path / REPORT_FILE if len(runs) == 1 else Path(REPORT_FILE)


def writable_output(out: str | os.PathLike) -> Path:
    """The file to write (FOLDER/report.html when `out` is a folder), its folder created and
    checked before any figure is drawn."""
    out = Path(out)
    if out.is_dir():
        out = out / REPORT_FILE
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.parent / f".{out.name}.write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except FileExistsError:
        raise AeganError(f"cannot write the report to {out}: a file stands where a folder of its path "
                         "should be; choose another --out") from None
    except OSError as error:
        raise AeganError(f"cannot write the report to {out} ({error.strerror or error}): "
                         "choose a writable --out") from None
    return out


def run_titles(runs: list[Run]) -> list[str]:
    """Each run's folder name, or its whole path where two runs share a name."""
    names = [run.path.name or str(run.path) for run in runs]
    return [name if names.count(name) == 1 else str(run.path) for name, run in zip(names, runs)]


def write_report(runs, out: str | os.PathLike | None = None) -> Path:
    """Write one self-contained HTML report of `runs` (run folders or Runs); return its path.

    Each run gets a column with the same sections in the same order: its configuration and
    data, learning curves, reconstructions, samples, interpolations, latent map and metrics
    beside their floors, each where the run can do it. A table of the key measures of all
    runs comes first. `out` defaults to RUN/report.html for one run, ./report.html for several.
    """
    if isinstance(runs, (str, os.PathLike, Run)):
        runs = [runs]
    runs = [run if isinstance(run, Run) else Run(run) for run in runs]
    if not runs:
        raise AeganError("aegan report: give one run folder or more")
    out = writable_output(out or default_output(runs))
    titles = run_titles(runs)
    columns = [run_column(run, title) for run, title in zip(runs, titles)]
    header, rows = summary_rows(titles, [summary_row(run) for run in runs])
    what = f"{len(runs)} runs side by side" if len(runs) > 1 else str(runs[0].path)
    page = render(title="aegan report" + (f": {titles[0]}" if len(runs) == 1 else ""),
                  subtitle=f"{what}; written {time.strftime('%Y-%m-%d %H:%M')}",
                  summary=table(header, rows, element_id="summary-table"), columns=columns, sections=SECTIONS)
    try:
        return atomic_write_bytes(out, page.encode("utf-8"))
    except OSError as error:
        raise AeganError(f"cannot write the report to {out} ({error.strerror or error}): "
                         "choose a writable --out") from None
