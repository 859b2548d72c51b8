"""Peak memory: the meta-device prediction of ``cnnzoo summary --batch-size B --train`` against
the CPU allocator's real peak, for inference and one training step.

For each model of :data:`MODELS` (13 models of the zoo's 9 families: LeNet-5, AlexNet, VGG-11,
GoogLeNet, ResNet-18/50, pre-activation ResNet-18, ResNeXt-50, MobileNet v1, ShuffleNet v1 and
v2, Inception-v4, NASNet-A Mobile) at batch sizes 1 and 8 (the standard input, random init):

- **predicted**: :func:`cnnzoo.analysis.memory.predict_memory` on the meta device, with the
  optimizer and auxiliary-loss weight of the model's default recipe (as ``cnnzoo summary --train``);
- **measured**: :func:`cnnzoo.analysis.memory.measure_peak` in a fresh process (so peaks never
  mix), one thread: the weights and the batch counted from their storages, then
  ``torch.profiler.profile(profile_memory=True)`` over a warm-up pass and the measured pass records
  every allocation and release of PyTorch's CPU allocator; their running sum is the live bytes,
  and the peak is its maximum inside the measured pass (a ``record_function`` range).
  Inference: ``model.eval()``, ``torch.no_grad()``, one warm-up forward, then the measured one.
  Training: train mode, the same :func:`~cnnzoo.analysis.memory.train_step` (the engine's
  order: forward, loss, ``zero_grad(set_to_none=True)``, backward, ``step``), one warm-up step
  so the optimizer state and the previous gradients exist, then the measured step: the
  steady-state peak a user hits on every step after the first;
- **RSS growth**, a cross-check without the profiler in a second fresh process: how much the
  process's peak resident set (``ru_maxrss``) grew from just before the model was built.

Both peaks count everything live: weights, the batch, gradients, optimizer state, activations.
"dynamic" is the peak above what was live when the window opened (the part the simulation has to
get right by itself; the rest is the weights, the batch, the state and the gradients).

Resumable: each (model, batch, mode) is appended to ``benchmarks/results/memory.json`` (written
atomically) as soon as it is measured, and one already there is skipped. At the end
``benchmarks/results/memory.md`` gets the table, the medians, the worst case and the environment;
the analysis below its marker is kept.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memory.py [--models lenet5 ...] [--batches 1,8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from common import ROOT, closing_lines, write_report

MODELS = (
    "lenet5",
    "alexnet",
    "vgg11",
    "googlenet",
    "resnet18",
    "resnet50",
    "preact_resnet18",
    "resnext50_32x4d",
    "mobilenet_v1",
    "shufflenet_v1",
    "shufflenet_v2_x1_0",
    "inception_v4",
    "nasnet_a_mobile",
)
BATCHES = (1, 8)
MODES = ("inference", "training")
RESULTS = ROOT / "benchmarks" / "results"
MiB = 2**20


def job(name: str, batch: int):
    """``name`` built on the CPU at its standard input, a random batch and labels; one thread."""
    import torch

    from cnnzoo.registry import create_model, get_model_spec

    torch.set_num_threads(1)
    torch.manual_seed(0)
    spec = get_model_spec(name)
    model = create_model(name)
    x = torch.randn(batch, *spec.input_size)
    return model, x, torch.randint(0, spec.num_classes, (batch,))


def measure(name: str, batch: int, mode: str, optimizer: str, aux_weight: float) -> dict:
    """The CPU allocator's peak of one inference pass or training step of ``name``, in this
    process (run it in a fresh one)."""
    from cnnzoo.analysis.memory import measure_peak

    started = time.perf_counter()
    model, x, labels = job(name, batch)
    train = mode == "training"
    result = measure_peak(model, x, labels, train=train, optimizer=optimizer, aux_weight=aux_weight)
    return {**result, "seconds": round(time.perf_counter() - started, 2)}


def measure_rss(name: str, batch: int, mode: str, optimizer: str, aux_weight: float) -> dict:
    """A cross-check without the profiler: how much the process's peak resident set grows from
    just before the model is built to the end of the warm-up and the measured pass (malloc's
    page rounding and the process's other memory included; run it in a fresh process)."""
    import resource

    from cnnzoo.analysis.memory import one_pass

    with open("/proc/self/statm") as statm:
        before = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    model, x, labels = job(name, batch)
    train = mode == "training"
    run = one_pass(model, x, labels, train=train, optimizer=optimizer, aux_weight=aux_weight)
    run()  # warm-up
    run()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"rss_growth": peak - before}


def child(kind: str, args: list[str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, __file__, kind, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def predict(name: str, batch: int, mode: str, optimizer: str, aux_weight: float) -> dict:
    """The meta-device prediction, with what was live before the measured pass."""
    from cnnzoo.analysis.memory import predict_memory

    e = predict_memory(
        name, batch, train=mode == "training", optimizer=optimizer, aux_weight=aux_weight
    )
    return {
        "peak": e.peak_bytes,
        "at_start": e.start_bytes,
        "phase": e.peak_phase,
        "breakdown": e.breakdown(),
    }


def run_one(name: str, batch: int, mode: str) -> dict:
    from cnnzoo.analysis.command import training_terms
    from cnnzoo.registry import get_model_spec

    optimizer, aux_weight = training_terms(name, get_model_spec(name).input_size)
    args = [name, str(batch), mode, optimizer, str(aux_weight)]
    measured = {**child("--measure", args), **child("--rss", args)}
    predicted = predict(name, batch, mode, optimizer, aux_weight)
    return {
        "model": name,
        "batch": batch,
        "mode": mode,
        "optimizer": optimizer if mode == "training" else None,
        "predicted": predicted,
        "measured": measured,
    }


def error(row: dict, dynamic: bool = False) -> float:
    """(predicted - measured) / measured of the peak, or of the peak above the start."""
    p, m = row["predicted"]["peak"], row["measured"]["peak"]
    if dynamic:
        p, m = p - row["predicted"]["at_start"], m - row["measured"]["at_start"]
    return (p - m) / m


def render(record: dict) -> str:
    rows = record["rows"]
    lines = [
        "# Peak memory: predicted on the meta device vs measured on the CPU",
        "",
        "`cnnzoo summary MODEL --batch-size B [--train]` (`cnnzoo.analysis.memory`) against",
        "the CPU allocator's live bytes under `torch.profiler` (`profile_memory=True`), each in a",
        "fresh process with one thread. Training: one steady-state step of the model's recipe",
        "optimizer (after a warm-up step). Standard input, random init. MiB = 2^20 bytes.",
        "*dynamic*: the peak above what was live when the pass started (weights, batch, old",
        "gradients, optimizer state). *RSS growth*: a cross-check in a second process without the",
        "profiler, how much its peak resident set grew from just before the model was built.",
        "",
        "| model | batch | mode | optimizer | predicted MiB | measured MiB | error | "
        "dynamic pred. MiB | dynamic meas. MiB | dynamic error | peak in | RSS growth MiB |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        p, m = r["predicted"], r["measured"]
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['mode']} | {r['optimizer'] or ''} "
            f"| {p['peak'] / MiB:,.2f} | {m['peak'] / MiB:,.2f} | {100 * error(r):+.1f} % "
            f"| {(p['peak'] - p['at_start']) / MiB:,.2f} "
            f"| {(m['peak'] - m['at_start']) / MiB:,.2f} "
            f"| {100 * error(r, dynamic=True):+.1f} % | {p['phase']} "
            f"| {m['rss_growth'] / MiB:,.1f} |"
        )
    lines += ["", "| mode | rows | median abs. error | worst | median abs. dynamic error |"]
    lines.append("|---|---:|---:|---|---:|")
    for mode in (*MODES, "all"):
        some = [r for r in rows if mode in (r["mode"], "all")]
        if not some:
            continue
        worst = max(some, key=lambda r: abs(error(r)))
        lines.append(
            f"| {mode} | {len(some)} "
            f"| {100 * statistics.median(abs(error(r)) for r in some):.1f} % "
            f"| {worst['model']} b{worst['batch']} {worst['mode']}: {100 * error(worst):+.1f} % "
            f"| {100 * statistics.median(abs(error(r, dynamic=True)) for r in some):.1f} % |"
        )
    seconds = sum(r["measured"]["seconds"] for r in rows)
    lines += ["", f"Measuring took {seconds:.0f} s of child-process time in all.", ""]
    env = record["environment"]
    lines += [f"CPU: {env.get('cpu')}; flags: {', '.join(env.get('cpu_flags', [])) or 'none'}.", ""]
    return "\n".join(lines + closing_lines(record))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)))
    parser.add_argument("--stem", default="memory", help="results/<stem>.json and .md")
    parser.add_argument("--measure", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--rss", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for how, asked in ((measure, args.measure), (measure_rss, args.rss)):
        if asked:
            name, batch, mode, optimizer, aux_weight = asked
            print(json.dumps(how(name, int(batch), mode, optimizer, float(aux_weight))))
            return

    from cnnzoo.env import environment
    from cnnzoo.files import write_text_atomic

    path = RESULTS / f"{args.stem}.json"
    record = json.loads(path.read_text()) if path.exists() else {"rows": []}
    record["command"] = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memory.py"
    record["environment"] = environment("cpu")
    done = {(r["model"], r["batch"], r["mode"]) for r in record["rows"]}
    for name in args.models:
        for batch in map(int, args.batches.split(",")):
            for mode in MODES:
                if (name, batch, mode) in done:
                    continue
                row = run_one(name, batch, mode)
                record["rows"].append(row)
                write_text_atomic(path, json.dumps(record, indent=1) + "\n")
                print(
                    f"{name} b{batch} {mode}: predicted {row['predicted']['peak'] / MiB:.1f} MiB,"
                    f" measured {row['measured']['peak'] / MiB:.1f} MiB ({100 * error(row):+.1f} %)"
                    f" in {row['measured']['seconds']} s",
                    flush=True,
                )
    order = {n: i for i, n in enumerate(MODELS)}
    record["rows"].sort(key=lambda r: (order.get(r["model"], 99), r["batch"], r["mode"]))
    write_text_atomic(path, json.dumps(record, indent=1) + "\n")
    write_report(RESULTS / f"{args.stem}.md", render(record))


if __name__ == "__main__":
    main()
