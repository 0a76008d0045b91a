"""aegan against two Keras peers: seconds per training epoch of the seed's models on the CPU.

Contenders, each timed in a fresh subprocess (TensorFlow's and PyTorch's thread pools never
share a process), alternated within each repeat, the median of the repeats reported:
  aegan        aegan's own training step for the preset (benchmarks/aegan_contenders.py):
               make_train_step + run_epoch for the autoencoders (the hand-derived fast path
               where it applies), the step train_gan selects for the GANs (fast_gan's for the
               simple GAN, fast_conv's for the DCGAN, images in [-1, 1])
  keras-seed   the seed's Keras code (the book's ml2 notebook, benchmarks/keras_peers.py):
               model.fit() for the autoencoders, the two-phase train_on_batch loop with
               discriminator.trainable toggled for the GANs
  keras-tuned  the same Keras models and optimizers, one custom training step per call of a
               tf.function (jit_compile where it was faster: keras_peers.JIT_COMPILE)
  aegan-bf16   with --bf16: aegan's autograd step under bf16 autocast (training.precision), on a
               CPU with bf16 units (AVX-512 BF16 or AMX); the header names the CPU's units
Models (all on the real Fashion-MNIST training split, 55,000 images per epoch): stacked_ae
(batch 32), conv_ae (32), vae (128), gan (32), dcgan (32), stacked_ae_1024 (the stacked AE at
batch 1024) and encode (aegan only: images per second of Run.encode over all 70,000 images).
Each contender times --steps training steps after a warm-up and scales them to an epoch
(1,719 steps at batch 32; 1,718 for the GANs, whose dataset drops the last partial batch).
Also printed: the fp32 matmul peak measured in each repeat, the FLOPs of an epoch (linear and
convolution layers, forward and backward, both phases of a GAN) and the share of the peak each
contender reaches; and the parameter counts of each contender's model.

TensorFlow's CPU build comes from the optional extra `keras-bench` (without it the aegan
contenders still run):

    .venv/bin/pip install -e '.[keras-bench]' -c constraints/cpu.txt
    .venv/bin/python benchmarks/versus_keras.py [--models stacked_ae,gan] [--repeats 3]
        [--steps N] [--threads N] [--keras-jit auto|on|off] [--bf16] [--json times.json] [--print-keras-models]

or `make bench-keras`. A full run with the default steps takes about 10-20 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NUM_IMAGES = 55_000
CONTENDERS = ("aegan", "keras-seed", "keras-tuned", "aegan-bf16")
INSTALL_HINT = ("install the extra with `.venv/bin/pip install -e '.[keras-bench]' -c constraints/cpu.txt` "
                "(or run `make bench-keras`)")


@dataclass(frozen=True)
class Benchmark:
    label: str
    preset: str  # aegan's preset, and the name of the book's Keras model
    kind: str
    batch_size: int
    steps: int  # default number of timed steps
    warmup: int


BENCHMARKS = {
    "stacked_ae": Benchmark("stacked AE", "stacked_ae", "dense_ae", 32, 1719, 50),
    "conv_ae": Benchmark("conv AE", "conv_ae", "conv_ae", 32, 400, 20),
    "vae": Benchmark("VAE", "vae", "vae", 128, 430, 20),
    "gan": Benchmark("simple GAN", "gan", "gan", 32, 1718, 20),  # a whole epoch: its steps are short
    "dcgan": Benchmark("DCGAN", "dcgan", "dcgan", 32, 40, 3),
    "stacked_ae_1024": Benchmark("stacked AE", "stacked_ae", "dense_ae", 1024, 54, 5),
}
ENCODE = "encode"
KNOWN_DIFFERENCES = {
    "dcgan": "aegan's DCGAN discriminator has batch normalisation (128 channels) after its second "
             "convolution; the book's has none",
}


# ---------------------------------------------------------------------------------------------
# The worker: one timing in this fresh process, its result printed as one JSON line
# ---------------------------------------------------------------------------------------------

def run_worker(spec: dict) -> dict:
    task, threads = spec["task"], spec["threads"]
    if task in ("keras", "describe-keras"):
        try:
            import keras_peers
        except ImportError as error:
            return {"error": f"TensorFlow cannot be imported ({error})", "missing_tensorflow": True}
        keras_peers.configure_tensorflow(threads)
        if task == "describe-keras":
            return {"lines": keras_peers.describe_models()}
        images = np.load(spec["images"])
        result = keras_peers.time_peer(spec["contender"], spec["preset"], images, spec["batch_size"],
                                       spec["steps"], spec["warmup"], spec.get("jit_compile"))
        result["versions"] = {"tensorflow": keras_peers.tf.__version__, "keras": keras_peers.keras.__version__}
        return result
    import torch

    import aegan_contenders

    torch.set_num_threads(threads)
    if task == "peak":
        from stacked_ae_epoch import matmul_peak

        return {"gflops": matmul_peak()}
    if task == "encode":
        return aegan_contenders.encoding_throughput(np.load(spec["images"]))
    result = aegan_contenders.time_contender(spec["preset"], spec["kind"], np.load(spec["images"]),
                                             spec["batch_size"], spec["steps"], spec["warmup"],
                                             spec.get("precision", "fp32"))
    result["versions"] = {"torch": torch.__version__}
    return result


def call_worker(spec: dict) -> dict:
    """Run one timing in a fresh Python process; its result, or {'error': ...} if it failed."""
    environment = dict(os.environ)
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up notices
    start = time.perf_counter()
    process = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
                             capture_output=True, text=True, env=environment)
    wall = time.perf_counter() - start
    for line in reversed(process.stdout.splitlines()):
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            result["process_seconds"] = wall
            return result
    errors = [line for line in process.stderr.splitlines() if line.strip()]
    return {"error": errors[-1] if errors else f"worker exited with status {process.returncode}",
            "stderr": process.stderr[-4000:], "process_seconds": wall}


# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------

def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    names = [*BENCHMARKS, ENCODE]
    parser.add_argument("--models", default=",".join(names),
                        help=f"comma-separated, from: {', '.join(names)} (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=0,
                        help="timed steps per contender for every model (default: per model, "
                             + ", ".join(f"{n} {b.steps}" for n, b in BENCHMARKS.items()) + ")")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for both frameworks (default: PyTorch's default, one per physical core)")
    parser.add_argument("--keras-jit", choices=("auto", "on", "off"), default="auto",
                        help="jit_compile of keras-tuned's step (auto: per model, whichever was faster here)")
    parser.add_argument("--bf16", action="store_true",
                        help="also time aegan in bf16 (training.precision), where the CPU has bf16 units")
    parser.add_argument("--json", metavar="OUT", help="also write all raw times and results to this JSON file")
    parser.add_argument("--print-keras-models", action="store_true",
                        help="first print the Keras models' layers and parameter counts against the book's")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return args
    args.models = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in args.models if name not in names]
    if unknown or not args.models:
        parser.error(f"--models: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(names)}")
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: expected 1 or more")
    if args.steps < 0:
        parser.error(f"--steps {args.steps}: expected a positive number of steps")
    if args.threads < 0:
        parser.error(f"--threads {args.threads}: expected a positive number of threads (0: the default)")
    return args


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def format_seconds(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_model_summary(name: str, bench: Benchmark, record: dict, peak: float, repeats: int) -> None:
    flops = record["epoch_flops"]
    epoch_steps = record["epoch_steps"]
    print(f"\n{bench.label}, batch {bench.batch_size} ({epoch_steps:,} steps per epoch, "
          f"{record['steps']} timed after {bench.warmup} warm-up, median of {repeats}): "
          f"{flops / 1e9:.1f} GFLOP per epoch, {flops / peak / 1e9:.3f} s at the measured peak")
    print(f"  {'contender':<13}{'s/epoch':>10}{'vs aegan':>10}{'% of peak':>11}{'parameters':>13}  notes")
    aegan_time = record["median"].get("aegan")
    for contender in CONTENDERS:
        if contender not in record["times"]:
            continue
        median = record["median"][contender]
        runs = [r for r in record["runs"][contender] if "error" not in r]
        if median is None:
            reason = record["runs"][contender][-1].get("error", "") if record["runs"][contender] else "skipped"
            print(f"  {contender:<13}{'-':>10}{'-':>10}{'-':>11}{'-':>13}  {reason}")
            continue
        ratio = f"{median / aegan_time:.2f}x" if aegan_time else "-"
        share = f"{100 * flops / median / 1e9 / peak:.1f}%"
        notes = []
        if runs and "jit_compile" in runs[-1]:
            notes.append(f"jit_compile={runs[-1]['jit_compile']}")
        if runs and "fast_path" in runs[-1]:
            notes.append("fast path" if runs[-1]["fast_path"] else "autograd step")
        if runs and "fit_call_seconds" in runs[-1]:
            notes.append(f"fit call {runs[-1]['fit_call_seconds']:.2f} s")
        parameters = f"{runs[-1]['parameters']:,}" if runs else "-"
        print(f"  {contender:<13}{median:>10.3f}{ratio:>10}{share:>11}{parameters:>13}  {', '.join(notes)}")
    counts = {c: record["runs"][c][-1]["parameters"] for c in record["runs"]
              if record["runs"][c] and "parameters" in record["runs"][c][-1]}
    if len(set(counts.values())) > 1:
        print(f"  parameter counts differ: {', '.join(f'{c} {n:,}' for c, n in counts.items())}"
              + (f" ({KNOWN_DIFFERENCES[bench.preset]})" if bench.preset in KNOWN_DIFFERENCES else ""))


def main() -> None:
    args = parse_arguments()
    if args.worker:
        print("RESULT " + json.dumps(run_worker(json.loads(args.worker))), flush=True)
        return

    import torch

    from aegan.data import load_fashion_mnist
    from aegan.errors import AeganError
    import aegan_contenders

    threads = args.threads or torch.get_num_threads()
    try:
        data = load_fashion_mnist()
    except AeganError as error:
        sys.exit(f"versus_keras: {error}")
    train_images = data.train_images[:NUM_IMAGES]
    all_images = np.concatenate([data.train_images, data.valid_images, data.test_images])
    keras_available = importlib.util.find_spec("tensorflow") is not None
    keras_skipped = "" if keras_available else "TensorFlow is not installed"
    if keras_skipped:
        print(f"keras peers skipped: {keras_skipped}; {INSTALL_HINT}", flush=True)
    contenders = CONTENDERS[:3] if keras_available else ("aegan",)
    from aegan.runtime import cpu_description
    from aegan.training.precision import cpu_bf16_units

    if args.bf16 and cpu_bf16_units():
        contenders = (*contenders, "aegan-bf16")
    elif args.bf16:
        print("--bf16: this CPU has no bf16 units (AVX-512 BF16 or AMX); the bf16 rows are left out", flush=True)
    models = [name for name in args.models if name in BENCHMARKS]
    print(f"versus_keras: {', '.join(args.models)}; {args.repeats} repeats; {threads} threads for "
          f"PyTorch and TensorFlow; {len(train_images):,} training images from {data.source}", flush=True)
    print(f"CPU: {cpu_description()}", flush=True)

    jit_compile = {"auto": None, "on": True, "off": False}[args.keras_jit]
    records = {}
    for name in models:
        bench = BENCHMARKS[name]
        steps = args.steps or bench.steps
        epoch_steps = (NUM_IMAGES // bench.batch_size if bench.kind in aegan_contenders.GAN_KINDS
                       else math.ceil(NUM_IMAGES / bench.batch_size))
        records[name] = {"label": bench.label, "preset": bench.preset, "batch_size": bench.batch_size,
                         "steps": min(steps, epoch_steps), "warmup": bench.warmup, "epoch_steps": epoch_steps,
                         "epoch_flops": aegan_contenders.epoch_flops(bench.preset, bench.kind, bench.batch_size,
                                                                     NUM_IMAGES),
                         "times": {c: [] for c in contenders}, "runs": {c: [] for c in contenders}}
    peaks, encodings = [], []
    versions = {"torch": torch.__version__, "python": sys.version.split()[0]}

    with tempfile.TemporaryDirectory(prefix="versus_keras-") as folder:
        train_path, all_path = str(Path(folder) / "train.npy"), str(Path(folder) / "all.npy")
        np.save(train_path, train_images)
        np.save(all_path, all_images)

        if args.print_keras_models:
            if keras_available:
                result = call_worker({"task": "describe-keras", "threads": threads})
                print("\n".join(result.get("lines", [f"keras models: {result.get('error')}"])), flush=True)
            else:
                print("--print-keras-models: TensorFlow is not installed", flush=True)

        for repeat in range(args.repeats):
            prefix = f"repeat {repeat + 1}/{args.repeats}"
            peak = call_worker({"task": "peak", "threads": threads})
            peaks.append(peak.get("gflops"))
            print(f"{prefix}  fp32 matmul peak "
                  + (f"{peak['gflops']:.1f} GFLOP/s" if "gflops" in peak else f"failed: {peak['error']}"), flush=True)
            for name in models:
                bench, record = BENCHMARKS[name], records[name]
                # Alternate: each repeat starts with the next contender.
                order = contenders[repeat % len(contenders):] + contenders[:repeat % len(contenders)]
                for contender in order:
                    if contender.startswith("keras") and not keras_available:
                        continue
                    spec = {"task": "aegan" if contender.startswith("aegan") else "keras", "contender": contender,
                            "precision": "bf16" if contender == "aegan-bf16" else "fp32",
                            "preset": bench.preset, "kind": bench.kind, "batch_size": bench.batch_size,
                            "steps": record["steps"], "warmup": bench.warmup, "threads": threads,
                            "images": train_path, "jit_compile": jit_compile}
                    result = call_worker(spec)
                    record["runs"][contender].append(result)
                    if "error" in result:
                        record["times"][contender].append(None)
                        if result.get("missing_tensorflow"):
                            keras_available, keras_skipped = False, result["error"]
                            print(f"keras peers skipped: {keras_skipped}; {INSTALL_HINT}", flush=True)
                        else:
                            print(f"{prefix}  {name:<16}{contender:<13}failed: {result['error']}", flush=True)
                        continue
                    versions.update(result.get("versions", {}))
                    record["times"][contender].append(result["seconds_per_epoch"])
                    print(f"{prefix}  {name:<16}{contender:<13}{result['seconds_per_epoch']:8.3f} s/epoch  "
                          f"({result['timed_steps']} steps in {result['timed_seconds']:.2f} s, loss "
                          f"{result['loss']:.4f}; process {result['process_seconds']:.1f} s)", flush=True)
            if ENCODE in args.models:
                result = call_worker({"task": "encode", "threads": threads, "images": all_path})
                encodings.append(result)
                if "error" in result:
                    print(f"{prefix}  encode          aegan        failed: {result['error']}", flush=True)
                else:
                    print(f"{prefix}  encode          aegan        {result['images_per_second']:,.0f} images/s "
                          f"({result['images']:,} images in {result['seconds']:.3f} s)", flush=True)

    measured_peaks = [p for p in peaks if p is not None]
    peak = statistics.median(measured_peaks) if measured_peaks else float("nan")
    print(f"\n{'=' * 100}\nCPU: {cpu_description()}")
    print(f"versus_keras: {threads} threads, torch {versions.get('torch')}, "
          f"tensorflow {versions.get('tensorflow', 'not run')}, keras {versions.get('keras', 'not run')}")
    print(f"fp32 matmul peak measured in this run: {peak:.1f} GFLOP/s (median of {len(measured_peaks)})")
    for name in models:
        record = records[name]
        record["median"] = {c: median_or_none(t) for c, t in record["times"].items()}
        print_model_summary(name, BENCHMARKS[name], record, peak, args.repeats)
    if encodings:
        rates = [e["images_per_second"] for e in encodings if "error" not in e]
        if rates:
            print(f"\nencoding (aegan Run.encode, stacked AE, batches of 4,096, no_grad): "
                  f"{statistics.median(rates):,.0f} images/s over {encodings[0]['images']:,} images "
                  f"(median of {len(rates)})")

    if models:
        peers = [c for c in contenders if c != "aegan"]
        faster_keras = "faster keras/" + ("aegan-bf16" if "aegan-bf16" in contenders else "aegan")
        print(f"\n{'model':<24}" + "".join(f"{c:>13}" for c in contenders)
              + "".join(f"{c + '/aegan':>18}" for c in peers)
              + (f"{faster_keras:>26}" if keras_available and "aegan-bf16" in contenders else ""))
        for name in models:
            record = records[name]
            label = f"{record['label']} (batch {record['batch_size']})"
            medians = record["median"]
            row = f"{label:<24}" + "".join(f"{format_seconds(medians.get(c)):>13}" for c in contenders)
            for contender in peers:
                ratio = (medians[contender] / medians["aegan"]
                         if medians.get(contender) and medians.get("aegan") else None)
                row += f"{'-' if ratio is None else f'{ratio:.2f}x':>18}"
            keras_times = [medians.get(c) for c in ("keras-seed", "keras-tuned") if medians.get(c)]
            if keras_times and medians.get("aegan-bf16"):
                row += f"{min(keras_times) / medians['aegan-bf16']:>25.2f}x"
            print(row)
        print("(seconds per epoch of 55,000 images; x/aegan > 1: aegan is faster)")
    if keras_skipped:
        print(f"\nkeras peers skipped: {keras_skipped}; {INSTALL_HINT}")

    if args.json:
        output = {"settings": {"models": args.models, "repeats": args.repeats, "threads": threads,
                               "images": NUM_IMAGES, "steps_option": args.steps},
                  "versions": versions, "matmul_peak_gflops": peaks, "matmul_peak_median": peak,
                  "models": records, "encoding": encodings}
        Path(args.json).write_text(json.dumps(output, indent=2) + "\n")
        print(f"raw times written to {args.json}")


if __name__ == "__main__":
    main()
