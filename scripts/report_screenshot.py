"""Train two small runs on Fashion-MNIST (a stacked autoencoder and a VAE), write their comparison
with `aegan report`, and take a screenshot of it in headless Chromium: docs/images/report.png.

    .venv/bin/python scripts/report_screenshot.py [--keep runs/report-screenshot]

About a minute on two cores: two epochs each on the first 10,000 training images.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "images" / "report.png"
RUNS = {  # run name -> (preset, overrides)
    "stacked_ae": ("stacked_ae", {}),
    "vae": ("vae", {}),
}
QUICK = {"data.train_subset": 10000}
EPOCHS = 2


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    sys.exit("report_screenshot: chromium is not installed (apt-get install chromium)")


def screenshot(page: Path, out: Path, size: str = "1400,1800") -> Path:
    """A PNG of the page's top `size` pixels (width,height)."""
    with tempfile.TemporaryDirectory(prefix="aegan-chromium-") as profile:
        subprocess.run([chromium(), "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
                        "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={size}",
                        "--virtual-time-budget=10000", f"--screenshot={out}", page.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="FOLDER", help="train the runs into FOLDER and keep them (default: a "
                        "temporary folder)")
    args = parser.parse_args()

    import aegan
    from aegan.report import write_report

    with tempfile.TemporaryDirectory(prefix="aegan-report-") as temporary:
        folder = Path(args.keep or temporary)
        folder.mkdir(parents=True, exist_ok=True)
        os.chdir(folder)  # the report names each run by the folder it was given: short relative names
        for name, (preset, overrides) in RUNS.items():
            print(f"training {name} ({EPOCHS} epochs on {QUICK['data.train_subset']:,} images)", flush=True)
            aegan.train(preset, out=name, epochs=EPOCHS, overrides={**QUICK, **overrides}, progress=False,
                        log=lambda message: None)
        page = write_report(list(RUNS), "report.html")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        print(screenshot(page, SCREENSHOT))
        os.chdir(ROOT)


if __name__ == "__main__":
    main()
