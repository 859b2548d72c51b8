"""The test-set batch of the training engine on the CPU: ``cnnzoo.train.engine.evaluate`` over
Fashion-MNIST test images at several batch sizes, for three networks of different sizes.

Each network is timed at every batch size in turn (one discarded warm-up round, then
``REPEATS`` timed rounds); the table gives the median images per second and its ratio against
batch 1000, the engine's earlier CPU setting and still its CUDA one. The top-1 of each network
must be the same at every batch size (evaluation is per image), or the benchmark fails.

Run: OMP_NUM_THREADS=2 .venv/bin/python benchmarks/eval_batch.py
(writes benchmarks/results/eval_batch.md and .json)
"""

from __future__ import annotations

import json
import sys

import torch
from common import ROOT, closing_lines, median_spread, write_report

from cnnzoo import create_model
from cnnzoo.data import load_dataset
from cnnzoo.data.loader import make_stream
from cnnzoo.distributed import Runtime
from cnnzoo.env import environment
from cnnzoo.evaluate.loop import EVAL_BATCH, evaluate
from cnnzoo.files import write_text_atomic
from cnnzoo.models.genotype import NASNET_A
from cnnzoo.nas.proxy import MODEL, candidate_kwargs

BATCHES = (64, 128, 256, 500, 1000)
BASELINE = 1000  # the batch the engine evaluated with on every device before
IMAGES = 2000  # test images per timed round
REPEATS = 3
NETWORKS = {
    "lenet5": {},
    "resnet20": {},
    f"{MODEL} N=2 F=16 (NASNet-A)": candidate_kwargs(NASNET_A, 2, 16),
}


def build(name: str, kwargs: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model(name.split()[0], num_classes=10, in_chans=1, **kwargs)
    return model.to(memory_format=torch.channels_last).eval()


def one_round(model, split, info, batch: int) -> tuple[float, float]:
    """Images per second and top-1 of one pass of ``evaluate`` over ``split``."""
    stream = make_stream(
        split,
        info,
        batch_size=batch,
        train=False,
        seed=0,
        size=info.image_size,
        runtime=Runtime(),
        channels_last=True,
    )
    result = evaluate(model, stream, Runtime(), num_classes=info.num_classes)
    return result["count"] / result["seconds"], result["top1"]


def main() -> int:
    data = load_dataset("fashion-mnist", subset=IMAGES)
    speeds = {name: {b: [] for b in BATCHES} for name in NETWORKS}
    top1 = {name: set() for name in NETWORKS}
    for name, kwargs in NETWORKS.items():
        model = build(name, kwargs)
        for round_ in range(REPEATS + 1):  # round 0 is the warm-up
            for batch in BATCHES:
                speed, accuracy = one_round(model, data.test, data.info, batch)
                top1[name].add(round(accuracy, 6))
                if round_:
                    speeds[name][batch].append(speed)
            print(
                f"{name} round {round_}: "
                + ", ".join(f"{b}: {speeds[name][b][-1]:,.0f}" for b in BATCHES if round_),
                flush=True,
            )
    median = {n: {b: median_spread(v)[0] for b, v in per.items()} for n, per in speeds.items()}
    same = all(len(values) == 1 for values in top1.values())
    record = {
        "command": "OMP_NUM_THREADS=2 " + " ".join([".venv/bin/python", *sys.argv]),
        "environment": environment("cpu"),
        "images": IMAGES,
        "repeats": REPEATS,
        "engine_cpu_batch": EVAL_BATCH["cpu"],
        "images_per_s": speeds,
        "median": median,
        "same_top1": same,
    }
    header = " | ".join(f"batch {b}" for b in BATCHES)
    lines = [
        "# Test-set batch of the engine's evaluation on the CPU",
        "",
        f"`evaluate` over {IMAGES:,} Fashion-MNIST test images, channels-last, {REPEATS} timed "
        f"rounds after a warm-up; median images per second, and the ratio against batch "
        f"{BASELINE}. The engine now evaluates with batch {EVAL_BATCH['cpu']} on the CPU.",
        "",
        f"| network | {header} |",
        "|---|" + "---:|" * len(BATCHES),
        *(
            f"| {n} | "
            + " | ".join(f"{m[b]:,.0f} ({m[b] / m[BASELINE]:.2f}x)" for b in BATCHES)
            + " |"
            for n, m in median.items()
        ),
        "",
        f"Top-1 the same at every batch size: {'yes' if same else 'NO'}.",
        "",
        *closing_lines(record),
    ]
    out = ROOT / "benchmarks" / "results" / "eval_batch"
    write_report(out.with_suffix(".md"), "\n".join(lines) + "\n")
    write_text_atomic(out.with_suffix(".json"), json.dumps(record, indent=2, default=str) + "\n")
    print("\n".join(lines))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
