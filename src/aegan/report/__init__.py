"""`aegan report`: one self-contained HTML page of one run, or of several side by side.

    from aegan.report import write_report
    write_report(["runs/stacked_ae", "runs/vae"], "report.html")
"""

from aegan.report.writer import write_report

__all__ = ["write_report"]
