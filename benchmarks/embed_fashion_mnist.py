"""How fast and how faithful are ``cnnzoo embed``'s maps? LeNet-5 on Fashion-MNIST.

Trains LeNet-5 with its default recipe (the main job, about a minute) or reuses ``--run DIR``, then
times ``cnnzoo embed``'s library call, wall clock from reading the dataset to the last figure, on
this machine's threads:

- 5,000 test images, and the whole 10,000-image test split;
- the same 5,000 images for the untrained network (seeded weights), side by side;
- with ``--resnet-run DIR``, the same 5,000 images for a trained ResNet-20 beside LeNet-5.

Each stage's map folder is kept under ``runs/embed-bench/``; a stage whose ``summary.json`` exists
is not run again (``--force`` reruns all), so a killed run resumes. Writes
``benchmarks/results/embed_fashion_mnist.json`` and ``.md`` and copies the figures shown in the
README to ``docs/figures/embed-*.png``.

Run: .venv/bin/python benchmarks/embed_fashion_mnist.py [--run runs/DIR] [--resnet-run runs/DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from common import ROOT, closing_lines, write_report

from cnnzoo.embed.command import EmbedConfig, embed
from cnnzoo.env import environment
from cnnzoo.files import write_text_atomic

RESULTS = ROOT / "benchmarks" / "results"
FIGURES = ROOT / "docs" / "figures"
FOLDER = ROOT / "runs" / "embed-bench"


def train(out: Path) -> Path:
    """Train LeNet-5 on Fashion-MNIST with its default recipe into ``out``."""
    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.engine import run

    run(TrainConfig("lenet5", dataset="fashion-mnist", out=str(out)))
    return out


def stage(name: str, config: EmbedConfig, force: bool) -> dict:
    """One timed ``embed`` call into ``FOLDER/name``, or its record from an earlier run."""
    record_path = FOLDER / name / "stage.json"
    if record_path.is_file() and not force:
        print(f"{name}: done earlier ({record_path})", flush=True)
        return json.loads(record_path.read_text())
    start = time.perf_counter()
    answer = embed(config)
    wall = time.perf_counter() - start
    record = {
        "name": name,
        "wall_s": wall,
        "maps": answer["maps"],
        "compare_png": answer.get("compare_png"),
    }
    for m in answer["maps"]:
        print(
            f"{name}: {m['model']}: n {m['n']:,}, 5-NN features {m['knn_features']:.2%}, map "
            f"{m['knn_map']:.2%}, trustworthiness {m['trustworthiness']:.3f}; wall {wall:.1f} s "
            f"(features {m['seconds']['features']:.1f} s, t-SNE {m['seconds']['tsne']:.1f} s)",
            flush=True,
        )
    write_text_atomic(record_path, json.dumps(record, indent=2) + "\n")
    return record


def render_md(record: dict) -> str:
    """The Markdown report of :func:`main`'s record."""
    rows = [
        "| stage | network | images | 5-NN features | 5-NN map | difference (points) | "
        "trustworthiness | features s | t-SNE s | metrics s | figures s | wall s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in record["stages"]:
        for m in s["maps"]:
            sec = m["seconds"]
            rows.append(
                f"| {s['name']} | {m['model']} | {m['n']:,} | {m['knn_features']:.2%} | "
                f"{m['knn_map']:.2%} | {(m['knn_map'] - m['knn_features']) * 100:+.2f} | "
                f"{m['trustworthiness']:.3f} | {sec['features']:.1f} | {sec['tsne']:.1f} | "
                f"{sec['metrics']:.1f} | {sec['figures']:.1f} | {s['wall_s']:.1f} |"
            )
    return "\n".join(
        [
            "# t-SNE maps: LeNet-5 on Fashion-MNIST",
            "",
            f"Checkpoint `{record['checkpoint']}` (test top-1 {record['top1']:.2%}). "
            "t-SNE: openTSNE, "
            "perplexity 30, PCA initialisation, seed 0, 750 iterations. 5-NN accuracies are "
            "leave-one-out; trustworthiness (scikit-learn, 5 neighbours) on at most 10,000 points. "
            "Wall time is the whole `embed` call: reading the dataset, features, t-SNE, the "
            "measures and the three figures.",
            "",
            *rows,
            "",
            *closing_lines(record),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="reuse this LeNet-5 run folder (its best.pt)")
    parser.add_argument("--resnet-run", type=Path, help="a ResNet-20 run folder to compare with")
    parser.add_argument("--force", action="store_true", help="rerun the stages done earlier")
    args = parser.parse_args()
    run_dir = args.run or FOLDER / "lenet5-run"
    if not (run_dir / "best.pt").is_file():
        train(run_dir)
    checkpoint = str(run_dir / "best.pt")
    common = {"dataset": "fashion-mnist", "split": "test", "seed": 0}
    plans = [
        (
            "lenet5-5000",
            EmbedConfig(checkpoint, n=5000, out=str(FOLDER / "lenet5-5000"), **common),
        ),
        (
            "lenet5-all",
            EmbedConfig(checkpoint, n=None, out=str(FOLDER / "lenet5-all"), **common),
        ),
        (
            "lenet5-vs-untrained",
            EmbedConfig(
                checkpoint,
                n=5000,
                compare="lenet5",
                out=str(FOLDER / "lenet5-vs-untrained"),
                **common,
            ),
        ),
    ]
    if args.resnet_run:
        plans.append(
            (
                "lenet5-vs-resnet20",
                EmbedConfig(
                    checkpoint,
                    n=5000,
                    compare=str(args.resnet_run / "best.pt"),
                    out=str(FOLDER / "lenet5-vs-resnet20"),
                    **common,
                ),
            )
        )
    stages = [stage(name, config, args.force) for name, config in plans]
    from cnnzoo.checkpoint import load_checkpoint

    top1 = load_checkpoint(run_dir / "last.pt")["best_top1"]
    record = {
        "schema": "cnnzoo-embed-bench",
        "version": 1,
        "checkpoint": str(Path(checkpoint).resolve().relative_to(ROOT)),
        "top1": top1,
        "command": " ".join(["python", *sys.argv]),
        "environment": environment("cpu"),
        "stages": stages,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_text_atomic(RESULTS / "embed_fashion_mnist.json", json.dumps(record, indent=2) + "\n")
    write_report(RESULTS / "embed_fashion_mnist.md", render_md(record))
    FIGURES.mkdir(parents=True, exist_ok=True)
    for source, target in (
        ("lenet5-5000/scatter.png", "embed-scatter.png"),
        ("lenet5-5000/grid.png", "embed-grid.png"),
        ("lenet5-5000/map.png", "embed-map.png"),
        ("lenet5-vs-untrained/compare.png", "embed-compare.png"),
    ):
        shutil.copyfile(FOLDER / source, FIGURES / target)
    print(f"wrote {RESULTS / 'embed_fashion_mnist.json'} and .md, figures in {FIGURES}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
