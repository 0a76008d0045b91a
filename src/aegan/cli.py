"""The `aegan` command. User errors print one line and exit with status 2."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from aegan.errors import AeganError, TrainingDiverged, TrainingInterrupted

EXIT_USER_ERROR = 2  # a mistake the user can fix: one line says what and how; nothing was written
EXIT_DIVERGED = 3  # training diverged (NaN, infinity, or a loss far above its best); the last good checkpoint stays
EXIT_INTERRUPTED = 130  # Ctrl-C


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _count(kind: str, minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number {kind}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum} {kind}, got {value}")
        return value
    return parse


def _positive(kind: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {kind}, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive number {kind}, got {text}")
        return value
    return parse


def _cmd_data(args) -> int:
    """Describe data as aegan reads it: Fashion-MNIST (no PATH) or the files at PATH."""
    from aegan.config import DataConfig, parse_override
    from aegan.data.sources import load_splits

    values = dict(parse_override(text) for text in args.set)
    keys = {key.removeprefix("data."): value for key, value in values.items()}
    if args.path:
        keys["path"] = args.path
    if args.data_dir:
        keys["data_dir"] = args.data_dir
    from aegan.config import build_dataclass

    splits = load_splits(build_dataclass(DataConfig, keys, "data"), seed=args.seed)
    spec = splits.spec
    print(f"Fashion-MNIST found in {spec.source}" if not args.path else f"{spec.source}")
    print(f"  {spec.describe()}")
    print(f"  train {len(splits.train):,}  valid {len(splits.valid):,}  test {len(splits.test):,}"
          + ("  (streamed from disk)" if splits.streamed else ""))
    low, high = spec.value_range
    print(f"  values in [{low:g}, {high:g}], scaled by {spec.scaling}")
    if spec.has_labels:
        shown = ", ".join(spec.class_names[:12]) + (" ..." if spec.num_classes > 12 else "")
        print(f"  classes: {shown}")
    if not args.path:
        from aegan.data import search_path

        print("  search path: " + ", ".join(str(p) for p in search_path(args.data_dir)))
    return 0


def _cmd_presets(args) -> int:
    from aegan.config import preset_descriptions

    descriptions = preset_descriptions()
    width = max(len(name) for name in descriptions)
    for name, text in descriptions.items():
        print(f"{name:<{width}}  {text}")
    return 0


def _cmd_train(args) -> int:
    from aegan.api import train
    from aegan.config import parse_override

    if args.resume:
        from aegan.api import resume

        given = [flag for flag, value in (("PRESET", args.preset), ("--data", args.data), ("--out", args.out),
                                          ("--batch-size", args.batch_size), ("--seed", args.seed),
                                          ("--data-dir", args.data_dir)) if value]
        if given:
            raise AeganError(f"--resume {args.resume} continues the run as it was configured: drop {', '.join(given)} "
                             "(--epochs and --set training.learning_rate=... may change)")
        overrides = dict(parse_override(text) for text in args.set)
        run = resume(args.resume, epochs=args.epochs, overrides=overrides, progress=not args.quiet)
        if os.environ.get("RANK", "0") == "0":  # one line per job under torchrun
            print(run.path)
        return 0
    if not args.preset:
        raise AeganError("aegan train: give a PRESET (see `aegan presets`) or a TOML file, or --resume RUN")
    overrides = dict(parse_override(text) for text in args.set)
    run = train(args.preset, data=args.data, out=args.out, epochs=args.epochs, batch_size=args.batch_size,
                seed=args.seed, overrides=overrides, data_dir=args.data_dir,
                progress=not args.quiet)
    if os.environ.get("RANK", "0") == "0":  # one line per job under torchrun
        print(run.path)
    return 0


def _cmd_reconstruct(args) -> int:
    from aegan.api import plot_reconstructions

    print(plot_reconstructions(args.run, args.out, n=args.n, noise=args.noise))
    return 0


def _cmd_encode(args) -> int:
    import numpy as np

    from aegan.api import encode, plot_codings
    from aegan.files import atomic_write_bytes
    from aegan.runs import Run

    run = Run(args.run)
    codings, labels = encode(run, args.split)
    out = Path(args.out or run.path / f"codings-{args.split}.npy")
    import io

    buffer = io.BytesIO()
    np.save(buffer, codings)
    atomic_write_bytes(out, buffer.getvalue())
    print(f"{out}  ({codings.shape[0]:,} codings of size {codings.shape[1]})")
    if not args.no_plot:
        plot = plot_codings(codings, labels, args.plot or run.path / f"codings-{args.split}-{args.method}.png",
                            max_points=args.max_points, title=f"{run.config.name}: {args.split} codings",
                            class_names=run.spec.class_names or None, method=args.method)
        print(plot)
    return 0



def _cmd_sample(args) -> int:
    from aegan.api import plot_samples

    print(plot_samples(args.run, args.out, n=args.n, seed=args.seed, label=args.label, steps=args.steps,
                       guidance=args.guidance, truncation=args.truncation, mix=args.mix))
    return 0


def _cmd_interpolate(args) -> int:
    from aegan.api import plot_interpolations

    print(plot_interpolations(args.run, args.out, steps=args.steps, pairs=args.pairs, seed=args.seed))
    return 0


def _cmd_evaluate(args) -> int:
    from aegan.api import evaluate

    result = evaluate(args.run, split=args.split, n=args.n, umap=args.umap, steps=args.steps)
    width = max(len(key) for key in result)
    for key, value in result.items():
        if key.endswith("_floor"):
            continue
        floor = result.get(f"{key}_floor")
        text = f"{value:.6g}" if isinstance(value, float) else str(value)
        if floor is not None:
            text += f"   (floor {floor:.6g})" if isinstance(floor, float) else f"   (floor {floor})"
        print(f"{key:<{width}}  {text}")
    print(f"written to {args.run}/evaluation.json")
    return 0


def _cmd_classify(args) -> int:
    from aegan.api import pretraining_experiment
    from aegan.evaluation.evaluate_run import pretraining_file

    for labels in args.labels:
        report = pretraining_experiment(args.run, labels=labels, seeds=args.seeds, epochs=args.epochs,
                                        fine_tune_learning_rate=args.fine_tune_learning_rate,
                                        reconstruction_weight=args.reconstruction_weight)
        print(f"{report['labels']} labelled images, {len(report['seeds'])} seeds (mean +- sd)")
        print(f"{'classifier':<28}{'valid accuracy':>18}{'test accuracy':>18}{'seconds':>10}")
        arms = [("scratch", "from scratch"), ("frozen", "reused encoder, frozen"),
                ("fine_tuned", "reused, then fine-tuned"), ("probe", "linear probe of codings")]
        if args.reconstruction_weight:
            arms[3:3] = [("scratch_reconstructing", "scratch, reconstructing"),
                         ("reconstructing", "reused, reconstructing")]
        for name, title in arms:
            cells = [f"{report[f'{name}_{split}_accuracy_mean']:.4f} +- {report[f'{name}_{split}_accuracy_std']:.4f}"
                     for split in ("valid", "test")]
            print(f"{title:<28}{cells[0]:>18}{cells[1]:>18}{report[f'{name}_seconds_mean']:>10.1f}")
        print(f"written to {args.run}/"
              f"{pretraining_file(labels, args.fine_tune_learning_rate, args.reconstruction_weight)}")
    return 0


def _cmd_score(args) -> int:
    from aegan.scoring import score

    out, scores = score(args.run, args.data, out=args.out, contamination=args.contamination)
    flagged = max(1, round(len(scores) * args.contamination))
    print(f"{out}  ({len(scores):,} samples scored, the top {flagged:,} flagged as outliers)")
    return 0


def _cmd_report(args) -> int:
    import matplotlib

    matplotlib.use("Agg")  # the command draws into files only
    from aegan.report import write_report

    print(write_report(args.runs, args.out))
    return 0


def _cmd_export(args) -> int:
    from aegan.export import export_onnx

    for path in export_onnx(args.run, args.out).values():
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aegan", description="Autoencoders and GANs: train, encode, reconstruct, sample, interpolate.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    data = commands.add_parser("data", help="describe data as aegan reads it (Fashion-MNIST without PATH)")
    data.add_argument("path", nargs="?", metavar="PATH",
                      help="a folder of images, a .npy/.npz/.csv file, IDX files, or a folder of train/valid/test")
    data.add_argument("--data-dir", help="folder holding the four Fashion-MNIST IDX files")
    data.add_argument("--seed", type=_count("seed", 0), default=42, help="seed of the split by fraction")
    data.add_argument("--set", action="append", default=[], metavar="data.KEY=VALUE",
                      help="a data key, e.g. data.image_size=[32,32] or data.label_column=species")
    data.set_defaults(handler=_cmd_data)

    presets = commands.add_parser("presets", help="list the built-in presets")
    presets.set_defaults(handler=_cmd_presets)

    train = commands.add_parser("train", help="train a preset or a TOML config into a run folder")
    train.add_argument("preset", metavar="PRESET_OR_TOML", nargs="?")
    train.add_argument("--resume", metavar="RUN",
                       help="continue RUN from its newest complete checkpoint (with --epochs for more epochs, "
                       "--set training.learning_rate=... for a lower rate after a divergence)")
    train.add_argument("--epochs", type=_count("of epochs", 1))
    train.add_argument("--batch-size", type=_count("batch size", 1))
    train.add_argument("--seed", type=_count("seed", 0))
    train.add_argument("--out", help="run folder (default runs/<preset>-<time>)")
    train.add_argument("--data", metavar="PATH", help="your data: a folder of images (one subfolder per class "
                       "for labels), a .npy/.npz/.csv file, IDX files, or a folder of train/valid/test "
                       "(default: Fashion-MNIST)")
    train.add_argument("--data-dir", help="folder holding the Fashion-MNIST IDX files")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key, e.g. training.learning_rate=0.5")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=_cmd_train)

    reconstruct = commands.add_parser("reconstruct", help="draw validation images and their reconstructions")
    reconstruct.add_argument("run", metavar="RUN")
    reconstruct.add_argument("--n", type=_count("of images", 1), default=5)
    reconstruct.add_argument("--out", help="PNG file (default RUN/reconstructions.png, RUN/denoising.png)")
    reconstruct.add_argument("--noise", action="store_true",
                             help="a denoising run: show noisy inputs and their denoised outputs")
    reconstruct.set_defaults(handler=_cmd_reconstruct)

    encode = commands.add_parser("encode", help="write codings (.npy) and a t-SNE or UMAP map of them")
    encode.add_argument("run", metavar="RUN")
    encode.add_argument("--split", choices=("train", "valid", "test"), default="valid")
    encode.add_argument("--out", help=".npy file (default RUN/codings-SPLIT.npy)")
    encode.add_argument("--method", choices=("tsne", "umap"), default="tsne",
                        help="the 2-D map: t-SNE (scikit-learn) or UMAP (pip install 'aegan[umap]')")
    encode.add_argument("--plot", help="PNG file (default RUN/codings-SPLIT-METHOD.png)")
    encode.add_argument("--max-points", type=_count("of points", 10), default=5000,
                        help="points in the map (a random subset beyond this)")
    encode.add_argument("--no-plot", action="store_true", help="write the codings only")
    encode.set_defaults(handler=_cmd_encode)

    sample = commands.add_parser("sample", help="a grid of new images from a VAE, GAN or diffusion run (checkpoint only)")
    sample.add_argument("run", metavar="RUN")
    sample.add_argument("-n", "--n", type=_count("of images", 1), default=12)
    sample.add_argument("--seed", type=_count("seed", 0), default=0)
    sample.add_argument("--label", type=_count("class label", 0),
                        help="a conditional model's class index (cgan, cddpm)")
    sample.add_argument("--steps", type=_count("of sampling steps", 1),
                        help="a diffusion run's DDIM steps (default its model.sample_steps)")
    sample.add_argument("--guidance", type=float,
                        help="a conditional diffusion run's classifier-free guidance weight (1: none)")
    sample.add_argument("--truncation", type=float,
                        help="a stylegan run's truncation: styles pulled toward the mean (1: none, 0.7 usual)")
    sample.add_argument("--mix", action="store_true",
                        help="a stylegan run's style-mixing grid (coarse styles of the rows, fine of the columns)")
    sample.add_argument("--out", help="PNG file (default RUN/samples.png)")
    sample.set_defaults(handler=_cmd_sample)

    interpolate = commands.add_parser("interpolate", help="decode codings on a line between images")
    interpolate.add_argument("run", metavar="RUN")
    interpolate.add_argument("--steps", type=_count("of steps", 2), default=9)
    interpolate.add_argument("--pairs", type=_count("of rows", 1), default=4,
                             help="rows: half between validation samples, half between random codings")
    interpolate.add_argument("--seed", type=_count("seed", 0), default=0)
    interpolate.add_argument("--out", help="PNG file (default RUN/interpolations.png)")
    interpolate.set_defaults(handler=_cmd_interpolate)

    evaluate = commands.add_parser("evaluate", help="measure a run: losses, probes vs PCA, sparsity, ELBO, FID")
    evaluate.add_argument("run", metavar="RUN")
    evaluate.add_argument("--split", choices=("train", "valid", "test"), default="test")
    evaluate.add_argument("--n", type=_count("of samples", 100), default=10000,
                          help="samples for the generative metrics (VAE, GAN and diffusion runs)")
    evaluate.add_argument("--steps", type=_count("of sampling steps", 1),
                          help="a diffusion run's DDIM steps for its samples (default its model.sample_steps)")
    evaluate.add_argument("--umap", action="store_true",
                          help="also the trustworthiness of the codings' UMAP map (pip install 'aegan[umap]')")
    evaluate.set_defaults(handler=_cmd_evaluate)

    classify = commands.add_parser("classify", help="few labels: a classifier from scratch vs on the run's encoder")
    classify.add_argument("run", metavar="RUN")
    classify.add_argument("--labels", type=_count("of labelled images", 10), nargs="+", default=[500],
                          help="labelled training images; several counts run one after another (default 500)")
    classify.add_argument("--fine-tune-learning-rate", type=_positive("as the learning rate"), default=None, metavar="RATE",
                          help="the reused encoder's learning rate when fine-tuned (default 1e-4, a tenth of the head's)")
    classify.add_argument("--reconstruction-weight", type=_positive("as the weight of the autoencoder's loss"),
                          default=0.0, metavar="WEIGHT",
                          help="also two semi-supervised arms: reused and scratch networks that keep reconstructing "
                               "training images (this weight times the autoencoder's loss) while they learn the labels")
    classify.add_argument("--seeds", type=_count("of seeds", 1), default=3)
    classify.add_argument("--epochs", type=_count("of epochs per phase", 1), default=20,
                          help="epochs with the encoder frozen, then as many fine-tuning (scratch: both)")
    classify.set_defaults(handler=_cmd_classify)
    score = commands.add_parser("score", help="anomaly scores: each sample's reconstruction error, as a CSV")
    score.add_argument("run", metavar="RUN")
    score.add_argument("data", metavar="DATA", help="a file or folder of the kind the run was trained on")
    score.add_argument("--out", help="CSV file (default RUN/scores.csv)")
    score.add_argument("--contamination", type=float, default=0.05,
                       help="fraction of samples flagged as outliers (default 0.05)")
    score.set_defaults(handler=_cmd_score)

    report = commands.add_parser("report", help="one self-contained HTML page of one run, or of several side by side")
    report.add_argument("runs", metavar="RUN", nargs="+")
    report.add_argument("--out", metavar="FILE",
                        help="HTML file (default RUN/report.html for one run, ./report.html for several)")
    report.set_defaults(handler=_cmd_report)

    export = commands.add_parser("export", help="write the run's encoder and decoder as ONNX files (onnxruntime)")
    export.add_argument("run", metavar="RUN")
    export.add_argument("--onnx", action="store_true", required=True,
                        help="ONNX files, with an export.json that describes their inputs, outputs and scaling")
    export.add_argument("--out", metavar="FOLDER", help="output folder (default RUN/onnx)")
    export.set_defaults(handler=_cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except TrainingInterrupted as error:
        print(f"aegan: {error}", file=sys.stderr)
        return 128 + error.signal_number
    except TrainingDiverged as error:
        print(f"aegan: error: {error}", file=sys.stderr)
        return EXIT_DIVERGED
    except AeganError as error:
        print(f"aegan: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("aegan: interrupted; the run folder keeps its last complete checkpoint", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
