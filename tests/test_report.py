"""`aegan report`: one self-contained HTML page per run or per comparison, checked in headless Chromium.

The browser check loads a copy of the report with a small script (allowed by a nonce, the only
change to the page's Content-Security-Policy) that records every script error, console error,
failed load and policy violation, then writes the verdict into document.title; `--dump-dom`
prints the page after it loaded, and Chromium's own console log (on stderr) is checked too.
"""

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from aegan.report.metrics import measure_rows
from aegan.report.sections import SECTIONS
from conftest import run_cli

TINY = {"epochs": 2, "progress": False, "log": lambda message: None}
NONCE = "aegan-report-check"
CHECK_SCRIPT = """
(function () {
  var problems = [];
  var consoleError = console.error;
  console.error = function () {
    problems.push("console.error: " + Array.prototype.join.call(arguments, " "));
    consoleError.apply(console, arguments);
  };
  window.addEventListener("error", function (event) {
    var target = event.target;
    problems.push(target && target.tagName ? "failed to load a " + target.tagName : "error: " + event.message);
  }, true);
  window.addEventListener("securitypolicyviolation", function (event) {
    problems.push("blocked " + (event.blockedURI || "inline code") + " (" + event.violatedDirective + ")");
  });
  window.addEventListener("load", function () { setTimeout(verdict, 200); });
  function verdict() {
    var images = Array.prototype.slice.call(document.images);
    var broken = images.filter(function (image) { return !(image.complete && image.naturalWidth > 0); });
    document.title = (problems.length || broken.length ? "FAIL " : "OK ") + images.length + " images, "
      + broken.length + " broken; " + problems.join(" | ");
  }
})();
"""


def tiny_images(count: int, seed: int):
    """1x8x8 uint8 images of three classes: a square, a cross and a bar, on faint noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    images = (rng.random((count, 8, 8)) * 40).astype(np.uint8)
    images[labels == 0, 2:6, 2:6] = 230
    images[labels == 1, 4, :] = 230
    images[labels == 1, :, 4] = 230
    images[labels == 2, 1:3, :] = 230
    return images, labels


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An autoencoder (evaluated, so that its metrics have PCA floors), a VAE and a GAN on tiny data."""
    import aegan

    folder = tmp_path_factory.mktemp("report")
    images, labels = tiny_images(150, seed=0)
    data = folder / "tiny.npz"
    np.savez(data, images=images, labels=labels)
    autoencoder = aegan.train("stacked_ae", data=data, out=folder / "stacked", **TINY,
                              overrides={"model.hidden_sizes": [16], "model.coding_size": 4})
    aegan.evaluate(autoencoder, log=lambda message: None)
    vae = aegan.train("vae", data=data, out=folder / "vae", **TINY,
                      overrides={"model.hidden_sizes": [16], "model.coding_size": 2})
    gan = aegan.train("gan", data=data, out=folder / "gan", **TINY,
                      overrides={"model.generator_sizes": [16], "model.discriminator_sizes": [16],
                                 "model.coding_size": 4})
    return {"autoencoder": autoencoder, "vae": vae, "gan": gan, "folder": folder}


@pytest.fixture(scope="module")
def two_run_report(runs):
    from aegan.report import write_report

    out = write_report([runs["autoencoder"].path, runs["vae"].path], runs["folder"] / "comparison.html")
    return out, out.read_text()


# --- the browser check -----------------------------------------------------------------------------

def find_chromium() -> str:
    """Chromium's path; without one the test fails under CI (CI set) and is skipped elsewhere."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("CI"):
        pytest.fail("CI is set but chromium is not installed: scripts/setup.sh installs it (apt-get install chromium)")
    pytest.skip("chromium is not installed (scripts/setup.sh installs it where apt-get is available)")


def test_without_chromium_the_check_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set but chromium is not installed"):
        find_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed"):
        find_chromium()


def with_check_script(page: str) -> str:
    """The page with CHECK_SCRIPT right after its Content-Security-Policy, which now allows that
    script (by its nonce) and nothing else."""
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    assert policy, "the report has no Content-Security-Policy"
    allowed = f'<meta http-equiv="Content-Security-Policy" content="{policy.group(1)}; script-src \'nonce-{NONCE}\'">'
    return page.replace(policy.group(0), f'{allowed}\n<script nonce="{NONCE}">{CHECK_SCRIPT}</script>', 1)


def browser_verdict(page: str) -> str:
    """document.title after the page loaded in headless Chromium, with the console lines Chromium
    logged for it (any of them is a failure)."""
    chromium = find_chromium()
    with tempfile.TemporaryDirectory(prefix="aegan-chromium-") as folder:
        path = Path(folder) / "page.html"
        path.write_text(with_check_script(page))
        result = subprocess.run(
            [chromium, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
             f"--user-data-dir={folder}/profile", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=10000", "--dump-dom", path.as_uri()],
            capture_output=True, text=True, timeout=120)
    title = re.search(r"<title>(.*?)</title>", result.stdout, re.S)
    assert title, f"chromium printed no page (exit {result.returncode}): {result.stderr[-2000:]}"
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return html.unescape(title.group(1)) + "".join(f" | console: {line}" for line in console)


def test_two_run_report_loads_in_chromium_with_every_image_decoded(two_run_report):
    _, page = two_run_report
    verdict = browser_verdict(page)
    images = page.count("<img ")
    assert images >= 8  # autoencoder: curves, reconstructions, latent map; VAE: those, samples, interpolations
    assert verdict == f"OK {images} images, 0 broken; ", verdict


def test_the_browser_check_catches_a_broken_image_and_a_script_error(two_run_report):
    _, page = two_run_report
    broken = re.sub(r'src="data:image/png;base64,[^"]{100}', 'src="data:image/png;base64,AAAA', page, count=1)
    verdict = browser_verdict(broken)
    assert verdict.startswith("FAIL") and "1 broken" in verdict, verdict
    scripted = page.replace("</body>", '<script>console.error("from the page")</script></body>')
    verdict = browser_verdict(scripted)
    assert verdict.startswith("FAIL") and "blocked inline (script-src" in verdict, verdict
    assert "Content Security Policy" in verdict  # also in Chromium's console log


# --- the page --------------------------------------------------------------------------------------

def test_report_is_self_contained(two_run_report):
    _, page = two_run_report
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:[a-z]+:)?//""", page, re.I)
    assert not re.search(r"""url\(|@import|<script|<link""", page, re.I)
    sources = re.findall(r'<img [^>]*src="([^"]*)"', page)
    assert sources and all(source.startswith("data:image/png;base64,") for source in sources)
    assert "default-src 'none'" in page


def test_each_run_has_the_sections_it_can_show(two_run_report):
    _, page = two_run_report
    ids = set(re.findall(r'id="([^"]+)"', page))
    autoencoder = {"config", "data", "curves", "reconstructions", "latent-map", "metrics"}
    vae = autoencoder | {"samples", "interpolations"}
    assert {section for section, _ in SECTIONS if f"run-1-{section}" in ids} == autoencoder
    assert {section for section, _ in SECTIONS if f"run-2-{section}" in ids} == vae
    assert "a dense_ae run does not generate" in page


def test_runs_are_side_by_side_in_the_same_section_order(two_run_report, runs):
    _, page = two_run_report
    assert "--columns: 2" in page
    positions = [page.index(f'id="section-{section}"') for section, _ in SECTIONS if f'id="section-{section}"' in page]
    assert positions == sorted(positions) and len(positions) == len(SECTIONS) - 1  # no run is denoising
    for section in ("config", "curves", "reconstructions", "latent-map", "metrics"):  # one row: run 1, then run 2
        start = page.index(f'id="section-{section}"')
        assert start < page.index(f'id="run-1-{section}"') < page.index(f'id="run-2-{section}"')
    assert page.index('id="run-1"') < page.index('id="run-2"') < page.index('id="section-config"')


def test_summary_and_metrics_show_the_runs_numbers_beside_their_floors(two_run_report, runs):
    _, page = two_run_report
    summary = page[page.index('id="summary-table"'):page.index("</table>", page.index('id="summary-table"'))]
    test_loss = json.loads((runs["autoencoder"].path / "test.json").read_text())["loss"]
    elbo = json.loads((runs["vae"].path / "test.json").read_text())["negative_elbo_nats"]
    assert ">stacked<" in summary and ">vae<" in summary
    assert f"{test_loss:.6g}" in summary and f"{elbo:.6g}" in summary
    evaluation = json.loads((runs["autoencoder"].path / "evaluation.json").read_text())
    metrics = page[page.index('id="run-1-metrics"'):page.index('id="run-2-metrics"')]
    probe_row = f"<td>linear_probe_accuracy</td><td class=\"number\">{evaluation['linear_probe_accuracy']:.6g}</td>" \
                f"<td class=\"number\">{evaluation['pca_linear_probe_accuracy']:.6g}</td>"
    assert probe_row in metrics
    assert "PCA with 4 components" in metrics


def test_floors_are_paired_with_their_measures():
    rows, floors = measure_rows({"split": "test", "fid": 20.0, "fid_floor": 0.5, "knn_accuracy": 0.7,
                                 "pca_knn_accuracy": 0.6, "pca_components": 3, "loss": 0.3})
    assert rows == [["fid", 20.0, 0.5], ["knn_accuracy", 0.7, 0.6], ["loss", 0.3, None]]
    assert len(floors) == 2 and "PCA with 3 components" in floors[1]


def test_a_run_without_its_data_still_gets_a_report(runs, tmp_path):
    from aegan.report import write_report

    moved = tmp_path / "moved"
    shutil.copytree(runs["autoencoder"].path, moved)
    config = json.loads((moved / "config.json").read_text())
    config["data"]["path"] = str(tmp_path / "gone.npz")
    (moved / "config.json").write_text(json.dumps(config))
    page = write_report([moved]).read_text()
    assert (moved / "report.html").is_file()
    assert 'id="run-1-curves"' in page and 'id="run-1-metrics"' in page
    assert page.count("not drawn: ") == 2  # reconstructions and latent map need the data
    assert "gone.npz" in page


# --- the command -----------------------------------------------------------------------------------

def test_one_run_report_goes_into_the_run_folder(runs):
    gan = runs["gan"].path
    result = run_cli("report", gan)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(gan / "report.html")
    page = (gan / "report.html").read_text()
    ids = set(re.findall(r'id="(run-1-[^"]+)"', page))
    assert ids == {"run-1-config", "run-1-data", "run-1-curves", "run-1-samples", "run-1-interpolations"}
    assert 'id="section-reconstructions"' not in page and 'id="section-latent-map"' not in page
    assert "<th class=\"number\">G loss</th>" in page and "<th class=\"number\">D loss</th>" in page


def assert_user_error(result, fragment):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert fragment in lines[0], lines[0]


def test_bad_inputs_give_one_line_and_exit_2(runs, tmp_path):
    not_a_run = tmp_path / "not-a-run"
    not_a_run.mkdir()
    assert_user_error(run_cli("report", runs["vae"].path, not_a_run, "--out", tmp_path / "r.html"),
                      "is not a run folder")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert_user_error(run_cli("report", runs["vae"].path, "--out", blocker / "report.html"), "--out")
    assert_user_error(run_cli("report"), "RUN")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file", "not-a-run"]
