"""NASNet-space search on Fashion-MNIST and transfer: regularized evolution against random search
at equal budget and several seeds, then the best searched cell and NASNet-A's own cell stacked
into the same bigger network and trained with the same recipe on the full training set; last,
NSGA-II at the same budget searches validation top-1 and MACs together, and every search's Pareto
front is measured by the area it dominates (hypervolume, one reference point for all).

Every stage resumes: each search is an Optuna study in its own folder (run again, it completes
the remaining candidates), each final training resumes from its ``last.pt``. Candidates are
scored on images held out from the TRAINING split; only the final networks see the test split.
Writes ``benchmarks/results/nas_fashion_mnist.json`` and ``.md`` and draws the search curve, the
Pareto fronts and the best cell to ``docs/figures/nas-*.png``.

Run: .venv/bin/python benchmarks/nas_fashion_mnist.py [--candidates 30] [--seeds 0,1]
     [--nsga2-seeds 0,1] [--final-epochs 15] [--final-cells 2] [--final-filters 16]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from common import ROOT, closing_lines, write_report

from cnnzoo.env import environment
from cnnzoo.files import write_text_atomic
from cnnzoo.interrupt import Interrupted
from cnnzoo.models.genotype import NASNET_A, Genotype
from cnnzoo.nas import plots
from cnnzoo.nas.outputs import history_rows
from cnnzoo.nas.pareto import hypervolume
from cnnzoo.nas.proxy import MODEL, Proxy, candidate_kwargs
from cnnzoo.nas.search import SearchConfig, search
from cnnzoo.nas.study import open_study
from cnnzoo.progress import line_progress

RESULTS = ROOT / "benchmarks" / "results"
FIGURES = ROOT / "docs" / "figures"


def run_search(strategy: str, seed: int, args, folder: Path) -> dict:
    """One search to its budget (resumed if it was started before); its summary and rows."""
    proxy = Proxy(
        num_cells=args.proxy_cells,
        filters=args.proxy_filters,
        train_images=args.proxy_train_images,
        val_images=args.proxy_val_images,
    )
    config = SearchConfig(
        strategy=strategy,
        seed=seed,
        budget_candidates=args.candidates,
        workers=args.workers,
        out=str(folder / f"{strategy}-seed{seed}"),
        proxy=proxy,
    )
    start = time.perf_counter()
    summary = search(
        config, line_progress(f"{strategy} seed {seed}", lambda line: print(line, flush=True))
    )
    summary["wall_s_this_run"] = time.perf_counter() - start
    summary["seed"] = seed
    summary["rows"] = history_rows(open_study(config), config)
    return summary


def final_training(name: str, genotype: Genotype, args, folder: Path) -> dict:
    """Train ``genotype``'s network on the full training set (resumes from ``last.pt``)."""
    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.engine import run

    out = folder / f"{name}-n{args.final_cells}-f{args.final_filters}-e{args.final_epochs}"
    kwargs = candidate_kwargs(genotype, args.final_cells, args.final_filters, args.drop_path_prob)
    config = TrainConfig(
        MODEL,
        dataset="fashion-mnist",
        epochs=args.final_epochs,
        batch_size=128,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="cosine",
        warmup_epochs=1,
        label_smoothing=0.1,
        channels_last=True,
        out=str(out),
        subset=args.final_subset,
        resume=(out / "last.pt").is_file(),
        model_kwargs=kwargs,
    )
    record_path = out / "final.json"
    if record_path.is_file():
        return json.loads(record_path.read_text())
    from cnnzoo.checkpoint import load_checkpoint

    result = run(config)
    rows = load_checkpoint(out / "last.pt")["history"]
    record = {
        "name": name,
        "out": str(out),
        "epochs": args.final_epochs,
        "num_cells": args.final_cells,
        "filters": args.final_filters,
        "final_top1": result["test_top1"],
        "best_top1": result.get("best_top1"),
        "train_s": sum(r["seconds"] for r in rows),
    }
    write_text_atomic(record_path, json.dumps(record, indent=2) + "\n")
    return record


def add_hypervolumes(searches: list[dict], rows: list[dict]) -> dict:
    """Each search's ``hypervolume`` (validation top-1 x M MACs) against one reference point:
    the lowest score and the most MACs of every candidate of every search; returns the point."""
    ref = {
        "score": min(float(r["score"]) for r in rows),
        "macs": max(float(r["macs"]) for r in rows),
    }
    for s in searches:
        mine = [r for r in rows if r["strategy"] == s["strategy"] and r["seed"] == s["seed"]]
        s["hypervolume"] = hypervolume(mine, ref["score"], ref["macs"]) / 1e6
    return ref


def render_md(record: dict) -> str:
    rows = [
        "| strategy | seed | candidates | best validation top-1 | best MACs | Pareto front "
        "| hypervolume | worker minutes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in record["searches"]:
        rows.append(
            f"| {s['strategy']} | {s['seed']} | {s['complete']} | "
            f"{s['best_score']:.2%} | {s['best_macs'] / 1e6:.1f} M | {s['pareto']} | "
            f"{s['hypervolume']:.3f} | {s['minutes']:.1f} |"
        )
    ref = record["hypervolume_reference"]
    finals = [
        "| network | cell | epochs | final test top-1 | best test top-1 | train minutes |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for f in record["finals"]:
        finals.append(
            f"| nasnet_cifar {f['num_cells']} cells, F={f['filters']} | {f['name']} | "
            f"{f['epochs']} | {f['final_top1']:.2%} | {f['best_top1']:.2%} | "
            f"{f['train_s'] / 60:.1f} |"
        )
    return "\n".join(
        [
            "# NASNet-space search on Fashion-MNIST, transferred",
            "",
            f"Proxy: {json.dumps(record['proxy'])}; {record['workers']} worker processes. "
            f"The winning search and its cell's final training together: {record['hours']:.2f} h "
            f"(every search and final: {record['all_hours']:.2f} h); "
            f"the transferred searched cell's test top-1 after its last epoch: "
            f"{record['searched_top1']:.2%}.",
            "",
            "Pareto front: the candidates no other of the same search beats on both validation "
            "top-1 and MACs. Hypervolume: the area of (M MACs, validation top-1) the front "
            f"dominates, up to the reference point of the lowest score ({ref['score']:.2%}) and "
            f"the "
            f"most MACs ({ref['macs'] / 1e6:.1f} M) of all candidates; larger is better.",
            "",
            *rows,
            "",
            *finals,
            "",
            *closing_lines(record),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=30, help="per search")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument(
        "--nsga2-seeds", default="0,1", help="NSGA-II searches after the finals ('' for none)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--proxy-cells", type=int, default=1)
    parser.add_argument("--proxy-filters", type=int, default=8)
    parser.add_argument("--proxy-train-images", type=int, default=10_000)
    parser.add_argument("--proxy-val-images", type=int, default=5_000)
    parser.add_argument("--final-epochs", type=int, default=15)
    parser.add_argument("--final-cells", type=int, default=2)
    parser.add_argument("--final-filters", type=int, default=16)
    parser.add_argument("--drop-path-prob", type=float, default=0.2)
    parser.add_argument("--final-subset", type=int, help="the finals on N images (smoke runs)")
    parser.add_argument(
        "--finals",
        default="searched,nasnet-a",
        help="which cells to transfer, searched first (default: %(default)s)",
    )
    parser.add_argument("--folder", type=Path, default=ROOT / "runs" / "nas-bench")
    args = parser.parse_args()
    finals = args.finals.split(",")
    if finals[0] != "searched" or not set(finals) <= {"searched", "nasnet-a"}:
        parser.error(
            "--finals must be searched or searched,nasnet-a (the report's hours and test top-1 "
            "are the searched cell's)"
        )
    seeds = [int(s) for s in args.seeds.split(",")]
    searches = [
        run_search(strategy, seed, args, args.folder)
        for seed in seeds
        for strategy in ("evolution", "random")
    ]
    best = max((s for s in searches if "best_score" in s), key=lambda s: s["best_score"])
    genotype = Genotype.from_file(Path(best["out"]) / "best_genotype.json")
    cells = {"searched": genotype, "nasnet-a": NASNET_A}
    try:
        finals = [final_training(name, cells[name], args, args.folder) for name in finals]
    except Interrupted as stop:  # the final training saved its last.pt; the same command resumes
        print(
            f"nas_fashion_mnist: {stop}; run the same command again to continue",
            file=sys.stderr,
            flush=True,
        )
        return stop.exit_code
    searches += [
        run_search("nsga2", int(seed), args, args.folder)
        for seed in args.nsga2_seeds.split(",")
        if seed
    ]
    all_rows = [r for s in searches for r in s.pop("rows") if r["state"] == "COMPLETE"]
    reference = add_hypervolumes(searches, all_rows)
    FIGURES.mkdir(parents=True, exist_ok=True)
    plots.save_search_curve(
        FIGURES / "nas-search-curve.png",
        all_rows,
        title="best validation top-1 so far, Fashion-MNIST proxy",
    )
    plots.save_pareto_front(
        FIGURES / "nas-pareto.png",
        all_rows,
        title="validation top-1 against MACs, Fashion-MNIST proxy",
    )
    shutil.copyfile(Path(best["out"]) / "best_cell.png", FIGURES / "nas-best-cell.png")
    # the reported hours: the winning search (its workers' time over their number) and the
    # searched cell's final training; ``all_hours`` adds every other search and NASNet-A's final
    hours = (best["minutes"] * 60 / args.workers + finals[0]["train_s"]) / 3600
    all_hours = (
        sum(s["minutes"] for s in searches) / args.workers * 60 + sum(f["train_s"] for f in finals)
    ) / 3600
    record = {
        "schema": "cnnzoo-nas-bench",
        "version": 1,
        "command": " ".join(["python", *sys.argv]),
        "proxy": {
            "num_cells": args.proxy_cells,
            "filters": args.proxy_filters,
            "train_images": args.proxy_train_images,
            "val_images": args.proxy_val_images,
        },
        "workers": args.workers,
        "searches": searches,
        "finals": finals,
        "hours": hours,
        "all_hours": all_hours,
        "hypervolume_reference": reference,
        "best_genotype": genotype.to_dict(),
        "best_search": best["study"],
        "searched_top1": finals[0]["final_top1"],
        "environment": environment("cpu"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_text_atomic(RESULTS / "nas_fashion_mnist.json", json.dumps(record, indent=2) + "\n")
    write_report(RESULTS / "nas_fashion_mnist.md", render_md(record))
    print(f"wrote {RESULTS / 'nas_fashion_mnist.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
