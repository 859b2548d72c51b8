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

Resumable: each model's results are appended to ``benchmarks/results/inference.json`` (written
atomically) as soon as the model is done, and a model already in that file is skipped when the
script runs again. At the end ``benchmarks/results/inference.md`` gets the table, the fastest
lines, the CPU flags and the environment.

On a machine others use, set ``OMP_WAIT_POLICY=PASSIVE`` (spinning OpenMP threads make 2 threads
3-6x slower on a loaded 2-core machine).

Run: .venv/bin/python benchmarks/inference.py [--models lenet5 ...] [--rounds 10] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os

# Before torch is imported (OpenMP reads it once): without it, torch's spinning OpenMP threads and
# the ONNX Runtime / XNNPACK threads interleaved with them slow each other down many times.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from common import ROOT, environment_lines, write_report

from cnnzoo.bench.core import SCHEMA, VERSION, bench_models, make_config
from cnnzoo.bench.render import render_table
from cnnzoo.bench.stats import summarize
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


def markdown(record: dict) -> str:
    """The report: how it was made, the table with the fastest lines, the environment."""
    env = record["environment"]
    return "\n".join(
        [
            "# Inference latency on the CPU",
            "",
            "Made by `.venv/bin/python benchmarks/inference.py` (library code of `cnnzoo bench`; "
            "interleaved rounds, warm-up discarded; speed-up over fp32 eager in the same rounds). "
            "Random weights: int8 cannot be judged, so its rows are `unjudged` (timed, never the "
            "fastest) or `refused`; int8 of trained networks, judged on their test images: "
            "`int8_accuracy.md`.",
            "",
            f"CPU: {env['cpu']}, {env['cores']} cores; "
            f"flags: {' '.join(env['cpu_flags']) or 'none'}; "
            f"load average at the start {env.get('load_average', ['?'])[0]}",
            "",
            "```",
            render_table(record).rstrip(),
            "```",
            "",
            *environment_lines(env),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--name", default="inference", help="results file stem")
    args = parser.parse_args()
    json_path, md_path = RESULTS / f"{args.name}.json", RESULTS / f"{args.name}.md"
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
    record = load_results(json_path)
    if record:
        write_report(md_path, markdown(record))
        print(render_table(record), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
