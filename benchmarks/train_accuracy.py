"""Test accuracy and wall time of a model trained with its default recipe.

Trains MODEL on DATASET exactly as ``cnnzoo train MODEL --dataset DATASET`` does (the default
recipe, nothing overridden but what is given here), once per seed, and records the final test
top-1 (the last epoch's, not the best), top-5, the number of epochs and the wall time of the
whole run (data loading, model building, every epoch's training and evaluation, checkpoints;
for a resumed run, of the resuming process only).

Run (from the repository root):
    .venv/bin/python benchmarks/train_accuracy.py lenet5 fashion-mnist --target 0.91 \
        --max-seconds 300
    .venv/bin/python benchmarks/train_accuracy.py lenet5 mnist-5k
    bash benchmarks/resnet20_fashion_mnist.sh  (resnet20, --target 0.94, in the background)
(writes benchmarks/results/train_<model>_<dataset>.md and .json; the run folders go to a
temporary directory unless --keep DIR)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import ROOT, write_report

from cnnzoo.env import environment
from cnnzoo.files import write_text_atomic
from cnnzoo.train import TrainConfig, run
from cnnzoo.train.recipes import RECIPE_FIELDS


def threshold_sentence(
    top1: list[float], seconds: list[float], min_top1: float | None, max_seconds: float | None
) -> str:
    """The report's sentence on ``--target`` and ``--max-seconds``: how many runs end at or above
    that final test top-1 and take at most that wall time ("" when neither was given)."""
    checks = []  # (phrase when every run does, phrase for a count, how many runs do)
    if min_top1 is not None:
        checks.append(
            (
                f"final test top-1 is at least {min_top1:.1%}",
                f"end with a final test top-1 of at least {min_top1:.1%}",
                sum(t >= min_top1 for t in top1),
            )
        )
    if max_seconds is not None:
        checks.append(
            (
                f"wall time is at most {max_seconds:.0f} s",
                f"take at most {max_seconds:.0f} s",
                sum(s <= max_seconds for s in seconds),
            )
        )
    if not checks:
        return ""
    if all(count == len(top1) for _, _, count in checks):
        return " Every seed's " + " and its ".join(every for every, _, _ in checks) + "."
    counts = [f"{count} of {len(top1)} seeds {some}" for _, some, count in checks]
    return " " + "; ".join(counts) + "."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("dataset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument(
        "--target",
        type=float,
        help="report how many seeds end at or above this final test top-1 (fraction); "
        "exit 1 if one does not",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        help="report how many runs take at most this many seconds; exit 1 if one does not",
    )
    parser.add_argument("--keep", help="keep the run folders under this directory")
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "fp16"),
        help="autocast precision (as cnnzoo train --precision; default: the recipe's)",
    )
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        help="NHWC memory format (as cnnzoo train --channels-last; default: the recipe's)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the runs kept under --keep from their last.pt",
    )
    args = parser.parse_args(argv)

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep or tmp)
        for seed in args.seeds:
            out = base / f"{args.model}-{args.dataset}-seed{seed}"
            resume = args.resume and (out / "last.pt").exists()
            config = TrainConfig(
                args.model,
                dataset=args.dataset,
                epochs=args.epochs,
                seed=seed,
                out=str(out),
                resume=resume,
                precision=args.precision,
                channels_last=args.channels_last,
            )
            start = time.perf_counter()
            result = run(config)
            seconds = time.perf_counter() - start
            runs.append(
                {
                    "seed": seed,
                    "test_top1": result["test_top1"],
                    "test_top5": result["test_top5"],
                    "best_top1": result["best_top1"],
                    "epochs": result["epoch"],
                    "seconds": seconds,
                    "images_per_s": result["images_per_s"],
                    "config": result["config"],
                    "resumed": resume,
                }
            )

    top1 = [r["test_top1"] for r in runs]
    seconds = [r["seconds"] for r in runs]
    passed = (args.target is None or min(top1) >= args.target) and (
        args.max_seconds is None or max(seconds) <= args.max_seconds
    )
    command = "OMP_NUM_THREADS=2 .venv/bin/python benchmarks/train_accuracy.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    env = environment("cuda" if torch.cuda.is_available() else "cpu")
    recipe = runs[0]["config"]
    lines = [
        f"# `{args.model}` on `{args.dataset}`, default recipe",
        "",
        f"Command: `{command}`",
        "",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()),
        "",
        "Recipe: " + ", ".join(f"{k} {recipe[k]}" for k in RECIPE_FIELDS),
        "",
        "| seed | final test top-1 | test top-5 | best top-1 | epochs | wall time (s) | "
        "train img/s (last epoch) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {r['seed']} | {r['test_top1']:.2%} | {r['test_top5']:.2%} | {r['best_top1']:.2%} "
            f"| {r['epochs']} | {r['seconds']:.1f} | {r['images_per_s']:,.0f} |"
            for r in runs
        ),
        "",
        f"Median final top-1 {statistics.median(top1):.2%} (min {min(top1):.2%}, max "
        f"{max(top1):.2%}); median wall time {statistics.median(seconds):.1f} s."
        + threshold_sentence(top1, seconds, args.target, args.max_seconds),
    ]
    out = ROOT / "benchmarks" / "results" / f"train_{args.model}_{args.dataset}"
    write_report(out.with_suffix(".md"), "\n".join(lines) + "\n")
    result = {
        "command": command,
        "environment": env,
        "runs": runs,
        "target": args.target,
        "max_seconds": args.max_seconds,
        "passed": passed,
    }
    write_text_atomic(out.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
    print("\n".join(lines))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
