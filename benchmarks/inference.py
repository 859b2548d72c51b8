"""Inference latency of seven networks of the zoo under every runtime and precision, on the CPU.

For each of lenet5 (1 x 32 x 32), resnet18, resnet50, mobilenet_v1, vgg16, googlenet and
shufflenet_v1_g3 (3 x 224 x 224, random init), every runtime (eager, fold, compile, onnxruntime,
executorch) and precision (fp32, bf16, int8) at batch sizes 1 and 8 is measured by the library
code of ``cnnzoo bench`` (:func:`cnnzoo.bench.bench_models`): every variant of a model prepared
first, then timed in interleaved rounds, warm-up discarded, speed-ups over fp32 eager in the same
rounds. With random weights int8 cannot be judged (calibrated on random inputs, near-tie
logits): its rows are timed as ``unjudged`` and are never the fastest, and PT2E int8 of
mobilenet_v1, whose random-init activations vanish, is ``refused``. int8 is judged on trained
networks in ``benchmarks/int8_accuracy.py``.

One record per kind of host (:data:`cnnzoo.env.HOST_KINDS`: ``amx``, ``avx512-bf16``, ...):
``benchmarks/results/inference_<kind>.json``. Resumable: each model's results are appended to this
host's record (written atomically) as soon as the model is done, and a model already in it is
skipped when the script runs again (on any host of the same kind: each model's variants are timed
together, in the same rounds, so its ratios are self-contained). At the end
``benchmarks/results/inference.md`` is rebuilt from every kind's record: the speed-ups side by
side, one column set per kind of host (fp32 eager's latency, the fastest exact variant, the
fastest bf16 and the fastest int8), then each kind's whole table, its fastest lines, CPU flags and
environment.

On a machine others use, set ``OMP_WAIT_POLICY=PASSIVE`` (spinning OpenMP threads make 2 threads
3-6x slower on a loaded 2-core machine).

Run: .venv/bin/python benchmarks/inference.py [--models lenet5 ...] [--rounds 10] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

# Before torch is imported (OpenMP reads it once): without it, torch's spinning OpenMP threads and
# the ONNX Runtime / XNNPACK threads interleaved with them slow each other down many times.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from common import ROOT, environment_lines, write_report

from cnnzoo.bench.core import SCHEMA, VERSION, bench_models, make_config
from cnnzoo.bench.render import render_table
from cnnzoo.bench.stats import fastest, summarize
from cnnzoo.env import HOST_KINDS, cpu_info, host_kind
from cnnzoo.files import write_text_atomic
from cnnzoo.progress import rich_progress

MODELS = (
    "lenet5",
    "resnet18",
    "resnet50",
    "mobilenet_v1",
    "vgg16",
    "googlenet",
    "shufflenet_v1_g3",
)
RUNTIMES = "eager,fold,compile,onnxruntime,executorch"
PRECISIONS = "fp32,bf16,int8"
BATCHES = "1,8"
RESULTS = ROOT / "benchmarks" / "results"


def load_results(path) -> dict | None:
    """The record written so far, or ``None`` when there is none yet."""
    return json.loads(path.read_text()) if path.exists() else None


def merged(record: dict | None, new: dict) -> dict:
    """``record`` with ``new``'s results appended and the summary recomputed (the environment and
    settings of the first run are kept; each model's own run is self-contained)."""
    if record is None:
        record = {**new, "results": []}
    results = record["results"] + new["results"]
    return {**record, "results": results, "summary": summarize(results)}


def record_path(name: str, kind: str) -> Path:
    """The JSON record of the hosts of ``kind`` (see :data:`HOST_KINDS`)."""
    return RESULTS / f"{name}_{kind}.json"


def kind_records(name: str) -> dict[str, dict]:
    """Every kind's record that exists, strongest kind first, each with its summary recomputed
    (a record written before a summary field was added gets it)."""
    kinds = [kind for kind, _ in HOST_KINDS] + ["other"]
    records = {kind: load_results(record_path(name, kind)) for kind in kinds}
    return {kind: {**r, "summary": summarize(r["results"])} for kind, r in records.items() if r}


def timed_best(results: list[dict], precision: str) -> dict | None:
    """The timed variant of ``precision`` with the shortest median: the fastest that qualifies
    (:func:`cnnzoo.bench.stats.fastest`) or, when none does, the fastest ``unjudged`` one (int8
    of random weights: timed, never chosen), marked ``unjudged``."""
    chosen = fastest(results, exact_only=False, precision=precision)
    if chosen is not None:
        return {**chosen, "unjudged": False}
    timed = [
        r
        for r in results
        if r["precision"] == precision and r["status"] == "unjudged" and r["latency_ms"]
    ]
    if not timed:
        return None
    best = min(timed, key=lambda r: r["latency_ms"]["median"])
    return {"runtime": best["runtime"], "speedup": best["speedup"], "unjudged": True}


def speedup_cell(choice: dict | None) -> str:
    """``"1.92x onnxruntime"``; ``"6.92x executorch?"`` for an unjudged one; ``"-"`` for none."""
    if choice is None or choice["speedup"] is None:
        return "-"
    mark = "?" if choice.get("unjudged") else ""
    return f"{choice['speedup']:.2f}x {choice['runtime']}{mark}"


def host_columns(records: dict[str, dict]) -> str:
    """The speed-ups side by side: one row per model and batch size, and for each kind of host
    fp32 eager's median latency, the fastest exact variant, the fastest bf16 and int8 ones."""
    keys: dict[tuple, None] = {}
    for record in records.values():
        keys.update(dict.fromkeys((r["model"], r["batch_size"]) for r in record["results"]))
    header = ["model", "batch"]
    for kind in records:
        header += [f"{kind}: eager fp32", "exact", "bf16", "int8"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for model, batch in keys:
        cells = [model, str(batch)]
        for record in records.values():
            rows = [r for r in record["results"] if (r["model"], r["batch_size"]) == (model, batch)]
            base = next(
                (r for r in rows if (r["runtime"], r["precision"]) == ("eager", "fp32")), None
            )
            if base is None or base["latency_ms"] is None:
                cells += ["-"] * 4
                continue
            exact = fastest(rows, exact_only=True)
            cells += [
                f"{base['latency_ms']['median']:.2f} ms",
                speedup_cell(exact),
                speedup_cell(timed_best(rows, "bf16")),
                speedup_cell(timed_best(rows, "int8")),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def host_section(kind: str, record: dict) -> list[str]:
    """One kind's part of the report: its CPU, the whole table with the fastest lines, the
    environment."""
    env = record["environment"]
    return [
        f"## {kind}: {env['cpu']}, {env['cores']} cores",
        "",
        f"Flags: {' '.join(env['cpu_flags']) or 'none'}; "
        f"load average at the start {env.get('load_average', ['?'])[0]}.",
        "",
        "```",
        render_table(record).rstrip(),
        "```",
        "",
        *environment_lines(env),
    ]


def markdown(records: dict[str, dict]) -> str:
    """The report: how it was made, the speed-ups with a column set per kind of host, then each
    kind's section."""
    sections = [line for kind, record in records.items() for line in host_section(kind, record)]
    return "\n".join(
        [
            "# Inference latency on the CPU",
            "",
            "Made by `.venv/bin/python benchmarks/inference.py` on each kind of host (library code "
            "of `cnnzoo bench`; interleaved rounds, warm-up discarded; speed-up over fp32 eager "
            "in the same rounds). Random weights: int8 cannot be judged, so its rows are "
            "`unjudged` (timed, never the fastest) or `refused`; int8 of trained networks, judged "
            "on their test images: `int8_accuracy.md`.",
            "",
            "## Speed-ups over fp32 eager, one column set per kind of host",
            "",
            "Kinds: "
            + "; ".join(f"{k} ({r['environment']['cpu']})" for k, r in records.items())
            + ". `exact`: the fastest variant within 1e-4 of fp32 eager; `bf16`, `int8`: the "
            "fastest variant of that precision (`?`: timed but unjudged, random weights).",
            "",
            host_columns(records),
            "",
            *sections,
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--name", default="inference", help="results file stem")
    args = parser.parse_args()
    kind = host_kind(cpu_info()[1])
    json_path, md_path = record_path(args.name, kind), RESULTS / f"{args.name}.md"
    done = {r["model"] for r in (load_results(json_path) or {"results": []})["results"]}
    for model in args.models:
        if model in done:
            print(f"{model}: already in {json_path.name}, skipped")
            continue
        config = make_config(
            [model],
            runtime=RUNTIMES,
            precision=PRECISIONS,
            batch_size=BATCHES,
            threads=args.threads,
            rounds=args.rounds,
        )
        with rich_progress("inference") as progress:
            new = bench_models(config, progress)
        record = merged(load_results(json_path), new)
        assert record["schema"] == SCHEMA and record["version"] == VERSION
        write_text_atomic(json_path, json.dumps(record, indent=2) + "\n")
        print(f"{model}: done, appended to {json_path.name}")
    records = kind_records(args.name)
    if records:
        write_report(md_path, markdown(records))
        print(host_columns(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
