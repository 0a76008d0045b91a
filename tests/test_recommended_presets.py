"""A recommended preset is its base preset plus the options the results page measured, and the
measurement backs the recommendation."""

import tomllib
from pathlib import Path

from test_docs import RESULTS, sections, tables

PRESETS = Path(__file__).resolve().parents[1] / "src" / "aegan" / "presets"


def preset(name: str) -> dict:
    return tomllib.loads((PRESETS / f"{name}.toml").read_text())


def test_dcgan_plus_is_dcgan_with_the_moving_average_it_was_measured_with():
    plus, dcgan = preset("dcgan_plus"), preset("dcgan")
    assert plus["model"] == dcgan["model"]
    assert plus["training"] == {**dcgan["training"], "ema_decay": 0.99}  # the row "dcgan + ema 0.99"


def test_dcgan_plus_beat_dcgan_on_every_seed_with_every_class():
    table = tables(sections(RESULTS.read_text())["mode-coverage-dcgan-8min-seeds"])[0]
    plain, plus = table["dcgan"], table["dcgan + ema 0.99"]
    seeds = [float(fid) for fid in plain["FID per seed"].split("/")]
    paired = [float(fid) for fid in plus["FID per seed"].split("/")]
    assert len(paired) == len(seeds) == 3
    assert all(ours < theirs for ours, theirs in zip(paired, seeds)), (paired, seeds)
    assert plus["runs with 10/10"] == "3/3"
    kl, spread = (float(part) for part in plus["class KL to test"].split("±"))
    assert kl + 1.16 * spread < 0.05  # so each seed's: of 3 values none lies 1.16 sd or more above their mean


def test_at_30_minutes_dcgan_plus_beats_dcgan_and_ddpm_beats_every_gan():
    table = tables(sections(RESULTS.read_text())["generative-budget-30min"])[0]

    def fid(row: str) -> float:
        return float(table[row]["FID"].split("±")[0])

    gans = [row for row in table if row.split()[0] in ("dcgan", "dcgan_plus", "progan", "stylegan")]
    assert len(gans) == 4 and fid("dcgan_plus (one pass)") < fid("dcgan (one pass)")
    assert max(fid("ddpm (DDIM, 50 steps)"), fid("ddpm (DDIM, 250 steps)")) < min(fid(row) for row in gans)
    kid = {row: float(table[row]["KID"].split("±")[0]) for row in table if not row.startswith("floor")}
    assert kid["dcgan_plus (one pass)"] < min(kid["ddpm (DDIM, 50 steps)"], kid["ddpm (DDIM, 250 steps)"])
