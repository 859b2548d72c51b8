"""Does int8 predict what fp32 predicts, and how much faster is it? mobilenet_v1 and resnet18
trained briefly on Fashion-MNIST, every runtime x precision of ``cnnzoo bench`` at batch 1.

Trains each network with the training engine (2 epochs on the first 20,000 training images,
resized to 32 x 32, bf16 autocast, channels-last; ``cnnzoo train MODEL --epochs 2 --subset 20000
--input-size 32 --precision bf16 --channels-last``), or reuses the run folders given with
``--runs``. Then the library code of ``cnnzoo bench`` (:func:`cnnzoo.bench.bench_models`) measures
each ``best.pt`` under eager, fold, compile, ONNX Runtime and ExecuTorch in fp32, bf16 and int8:
int8 calibrated on 512 TRAINING images, and every variant that is not exact judged on the whole
10,000-image test split -- one whose top-1 is fp32's on fewer than 99 % of the images is
``disagrees`` and is not timed. Speed-ups are over fp32 eager in the same interleaved rounds.

Writes ``benchmarks/results/int8_accuracy.json`` (the bench record, the runs, the command) and
``.md`` (a table per variant, the full bench table, the environment with the load average at the
start and the end: on a shared machine the absolute latencies move, the ratios much less).

Run: .venv/bin/python benchmarks/int8_accuracy.py [--runs runs/A runs/B] [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# Before torch is imported (OpenMP reads it once): see benchmarks/inference.py.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from common import ROOT, closing_lines, write_report

from cnnzoo.bench.core import bench_models, make_config
from cnnzoo.bench.render import fastest_line, fmt, render_table
from cnnzoo.export.judge import MIN_AGREEMENT
from cnnzoo.files import write_text_atomic
from cnnzoo.progress import rich_progress

RESULTS = ROOT / "benchmarks" / "results"
MODELS = ("mobilenet_v1", "resnet18")
TRAINING = {
    "epochs": 2,
    "subset": 20_000,
    "input_size": 32,
    "precision": "bf16",
    "channels_last": True,
}
RUNTIMES = "eager,fold,compile,onnxruntime,executorch"
PRECISIONS = "fp32,bf16,int8"


def train(model: str) -> Path:
    """Train ``model`` on Fashion-MNIST with :data:`TRAINING` into ``runs/int8-<model>-fmnist``."""
    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.engine import run

    out = ROOT / "runs" / f"int8-{model}-fmnist"
    run(TrainConfig(model, out=str(out), **TRAINING))
    return out


def run_facts(folder: Path) -> dict:
    """What made a run folder (its resolved training settings) and its best test top-1."""
    config = json.loads((folder / "config.json").read_text())
    train = config.get("train", config)
    keys = ("model", "epochs", "subset", "input_size", "precision", "batch_size", "lr")
    return {
        "folder": str(folder),
        "checkpoint": str(folder / "best.pt"),
        **{k: train.get(k) for k in keys},
    }


def variant_rows(record: dict) -> list[str]:
    """The Markdown table: one row per variant that ran (skipped ones are in the bench table)."""
    rows = [
        "| model | runtime | precision | status | same top-1 as fp32 | top-1 | median ms | "
        "speed-up |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for r in record["results"]:
        if r["status"] == "skipped":
            continue
        agree = "exact" if r["exact"] else fmt(r["agreement"], ".2%")
        lat = (r["latency_ms"] or {}).get("median")
        rows.append(
            f"| {r['model']} | {r['runtime']} | {r['precision']} | {r['status']} | "
            f"{agree} | {fmt(r['top1'], '.2%')} | {fmt(lat, '.3f')} | "
            f"{fmt(r['speedup'], '.2f')}{'x' if r['speedup'] else ''} |"
        )
    return rows


def render_md(record: dict) -> str:
    """The Markdown report of :func:`main`'s record."""
    bench = record["bench"]
    env = bench["environment"]
    runs = [
        f"- `{r['checkpoint']}`: {r['model']}, {r['epochs']} epochs on the first "
        f"{r['subset']:,} training images, {r['input_size']} x {r['input_size']}, "
        f"{r['precision']} autocast"
        for r in record["runs"]
    ]
    return "\n".join(
        [
            "# int8 on trained networks: agreement with fp32 and speed (Fashion-MNIST)",
            "",
            "Every runtime x precision of `cnnzoo bench` at batch 1 on two checkpoints trained "
            "briefly on Fashion-MNIST. int8 is static, calibrated on 512 training images (PT2E "
            "`X86InductorQuantizer` under `compile`, ONNX Runtime `quantize_static` QDQ "
            "per-channel, "
            "ExecuTorch PT2E `XNNPACKQuantizer`). Every variant that is not exact is judged on the "
            f"whole test split: `same top-1 as fp32` must be >= {MIN_AGREEMENT:.0%}, else the "
            "variant is `disagrees` and is not timed. Speed-ups are over fp32 eager in the same "
            "interleaved rounds.",
            "",
            *runs,
            "",
            f"Machine: {env['cpu']}, {env['cores']} cores, shared with other jobs (load average "
            f"{env['load_average'][0]} at the start, {record['load_average_end'][0]} at the end); "
            "the ratios are measured in the same rounds, the absolute latencies move with the "
            "load.",
            "",
            *variant_rows(bench),
            "",
            *[f"- {fastest_line(row)}" for row in bench["summary"]],
            "",
            "The bench table (`cnnzoo bench` output):",
            "",
            "```",
            render_table(bench).rstrip(),
            "```",
            "",
            *closing_lines({"command": record["command"], "environment": env}),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", type=Path, help="reuse these run folders' best.pt")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    folders = args.runs or [train(model) for model in MODELS]
    runs = [run_facts(folder) for folder in folders]
    config = make_config(
        [r["checkpoint"] for r in runs],
        runtime=RUNTIMES,
        precision=PRECISIONS,
        batch_size="1",
        threads=args.threads,
        rounds=args.rounds,
    )
    with rich_progress("int8 accuracy") as progress:
        bench = bench_models(config, progress)
    record = {
        "schema": "cnnzoo-int8-accuracy",
        "version": 2,
        "command": " ".join([".venv/bin/python", *sys.argv]),
        "runs": runs,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "bench": bench,
    }
    write_text_atomic(RESULTS / "int8_accuracy.json", json.dumps(record, indent=2) + "\n")
    write_report(RESULTS / "int8_accuracy.md", render_md(record))
    print(render_table(bench), end="")
    print(f"wrote {RESULTS / 'int8_accuracy.json'} and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
