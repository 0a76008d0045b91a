"""One run's column of the report: each section it has, as HTML, and a note for each it has not.

A section is shown when the run's family can do what it needs (`Run.can`) and the data allows
it; otherwise its cell says why in a few words. Figures that need the run's data (reconstructions,
the latent map, interpolations between real samples) read it once, where the run was trained on it;
when it is not there, the cell says so and the rest of the report is written all the same.
"""

from __future__ import annotations

import dataclasses

from aegan.config import DataConfig, TrainingConfig
from aegan.errors import AeganError
from aegan.report import figures
from aegan.report.metrics import metric_tables, read_json
from aegan.report.page import Column, escape, image, key_value_groups, note, table

# (section id, heading), in page order
SECTIONS = [
    ("config", "Configuration"),
    ("data", "Data"),
    ("curves", "Learning curves"),
    ("reconstructions", "Reconstructions (validation samples)"),
    ("denoising", "Denoising"),
    ("samples", "Samples"),
    ("interpolations", "Interpolations"),
    ("latent-map", "Latent map"),
    ("metrics", "Metrics and their floors"),
]
TRAINING_KEYS_ALWAYS_SHOWN = ("num_epochs", "batch_size", "optimizer", "learning_rate", "seed")
OFF_VALUES = ("", "none", False, 0, 0.0, (), [])


class DataOnce:
    """The run's data, read at most once for all of its figures (or the reason it cannot be read)."""

    def __init__(self, run):
        self.read_splits = run.splits
        self.splits_ = None
        self.error_ = None

    def __call__(self):
        if self.error_ is not None:
            raise self.error_
        if self.splits_ is None:
            try:
                self.splits_ = self.read_splits()
            except AeganError as error:
                self.error_ = error
                raise
        return self.splits_


def config_groups(run) -> dict[str, list[list]]:
    """Model keys that are set, data and training keys that differ from their defaults (the main
    training keys always), and where the run trained."""
    config = run.config
    model = [[key, value] for key, value in dataclasses.asdict(config.model).items()
             if key == "kind" or not any(value == off and type(value) is type(off) for off in OFF_VALUES)]
    data_defaults = dataclasses.asdict(DataConfig())
    data = [[key, value] for key, value in dataclasses.asdict(config.data).items() if value != data_defaults[key]]
    if not config.data.path:
        data.insert(0, ["dataset", config.data.builtin])
    training_defaults = dataclasses.asdict(TrainingConfig())
    training = [[key, value] for key, value in dataclasses.asdict(config.training).items()
                if key in TRAINING_KEYS_ALWAYS_SHOWN or value != training_defaults[key]]
    info = read_json(run.path / "run.json") or {}
    ran_on = [[key, info[key]] for key in ("device", "threads", "training_steps", "torch") if key in info]
    return {"model": model, "training": training, "data": data, "ran on": ran_on}


def config_section(run) -> str:
    return key_value_groups(config_groups(run)) + note(
        f"preset {run.config.name}; model keys that are off, and data and training keys at their defaults, "
        "are left out")


def data_section(run, data: DataOnce) -> str:
    spec = run.spec
    low, high = spec.value_range
    rows = [["description", spec.describe()], ["source", spec.source or "-"], ["format", spec.format or "-"],
            ["values", f"[{low:g}, {high:g}], scaled by {spec.scaling}"]]
    if spec.has_labels:
        shown = ", ".join(spec.class_names[:10]) + (f" ... ({spec.num_classes})" if spec.num_classes > 10 else "")
        rows.append(["classes", shown])
    if spec.feature_names:
        rows.append(["features", ", ".join(spec.feature_names[:10]) + (" ..." if len(spec.feature_names) > 10 else "")])
    try:
        splits = data()
        rows.append(["samples", f"train {len(splits.train):,}, valid {len(splits.valid):,}, test {len(splits.test):,}"])
    except AeganError:
        rows.append(["samples", "the data is not where the run was trained on it"])
    return table([], rows, align_numbers=False)


def curves_section(run, title: str) -> str | None:
    png = figures.learning_curves(run.metrics(), title)
    return image(png, f"{title}: per-epoch measures from metrics.jsonl") if png else None


def figure_or_note(draw, caption: str) -> str:
    """A figure, or the one-line reason it cannot be drawn (e.g. the data is not there)."""
    try:
        return image(draw(), caption)
    except AeganError as error:
        return note(f"not drawn: {error}")


def has_noise(run) -> bool:
    noise = getattr(run.model, "noise", None)
    return noise is not None and noise.kind != "none" and noise.level > 0


def metrics_section(run) -> str | None:
    parts = []
    for title, rows, floors in metric_tables(run.path):
        if all(row[2] is None for row in rows):  # nothing to compare with: no floor column
            parts.append(f"<h3>{escape(title)}</h3>" + table(["measure", "value"], [row[:2] for row in rows]))
        else:
            parts.append(f"<h3>{escape(title)}</h3>" + table(["measure", "value", "floor"], rows))
        if floors:
            parts.append(note("floor: " + "; ".join(floors)))
    histogram = figures.image_file(run.path / "coding-activations.png")
    if histogram:
        parts.append(image(histogram, "coding activations (aegan evaluate)"))
    return "".join(parts) or None


def run_column(run, title: str) -> Column:
    """Every section that applies to `run`, with a note in place of each that does not."""
    data = DataOnce(run)
    run.splits = data  # the figures read the run's data through run.splits(): once, then from memory
    try:
        return Column(title=title, path=str(run.path), **sections_and_notes(run, title, data))
    finally:
        del run.splits  # the Run reads its data afresh again


def sections_and_notes(run, title: str, data: DataOnce) -> dict[str, dict[str, str]]:
    kind = run.config.model.kind
    sections: dict[str, str] = {"config": config_section(run), "data": data_section(run, data)}
    notes: dict[str, str] = {"curves": "no metrics.jsonl", "metrics": "no test.json or evaluation.json yet "
                             "(aegan evaluate writes one)"}
    curves = curves_section(run, title)
    if curves:
        sections["curves"] = curves
    if run.can("reconstruct"):
        sections["reconstructions"] = figure_or_note(lambda: figures.reconstructions(run),
                                                     "originals and their reconstructions")
    else:
        notes["reconstructions"] = f"a {kind} run does not reconstruct"
    if run.can("reconstruct") and has_noise(run):
        sections["denoising"] = figure_or_note(lambda: figures.reconstructions(run, noise=True),
                                               "originals, noisy inputs, denoised outputs")
    else:
        notes["denoising"] = "trained without input noise"
    if run.can("sample"):
        sections["samples"] = figure_or_note(lambda: figures.samples(run), "new samples from the prior")
    else:
        notes["samples"] = f"a {kind} run does not generate"
    if run.can("interpolate") and run.spec.is_image:
        sections["interpolations"] = figure_or_note(
            lambda: figures.interpolations(run), "between validation samples (first rows) and random codings")
    else:
        notes["interpolations"] = (f"a {kind} run does not interpolate" if not run.can("interpolate")
                                   else f"drawn for images only ({run.spec.layout} data)")
    if run.can("encode"):
        sections["latent-map"] = figure_or_note(lambda: figures.latent_map(run, data().valid, title),
                                                "validation codings, coloured by class")
    else:
        notes["latent-map"] = f"a {kind} run has no encoder"
    metrics = metrics_section(run)
    if metrics:
        sections["metrics"] = metrics
    return {"sections": sections, "notes": notes}
