"""Golden outputs: what the commands print and write, recorded once and compared after a change
that must not change behaviour.

    .venv/bin/python benchmarks/golden.py record GOLDEN        # on the commit before the change
    .venv/bin/python benchmarks/golden.py check GOLDEN FRESH   # after it: exit 1 on a difference

``record`` runs, through the command line: ``summary --format json`` of every model, ``compare
--format json``, ``bench --format json`` (timings removed), an ONNX export's outputs on fixed
inputs, an embed map of a fixed checkpoint, a 4-candidate NAS search with a fixed seed, and the
pages of the report's ``report.json``. The checkpoint is trained once by ``record`` and kept in
GOLDEN; ``check`` copies it, so both sides embed, bench and report the same weights. Each output
is one file of GOLDEN (measured times left out); ``check`` records FRESH the same way and lists
every file that differs.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from cnnzoo.cli import main

# fields and columns that measure time, memory or a process, not behaviour
TIMING_KEYS = {
    *("prepare_s", "median_ms", "iqr_ms", "images_per_s", "speedup", "peak_mib"),  # bench
    *("environment", "latency_ms", "peak_memory_mib", "iterations_per_sample"),  # bench
    *("fastest", "fastest_exact"),  # bench: chosen by time
    "seconds",  # embed, nas search
    *("mean_candidate_s", "minutes", "train_s", "worker"),  # nas search
}
# files an output folder holds whose bytes depend on the moment they were made (PNG metadata,
# the run's environment record)
SKIPPED_FILES = {".cnnzoo.json"}


def cli(*argv: str) -> str:
    """What ``cnnzoo argv`` prints on standard output; a nonzero exit is an error."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    if code:
        raise SystemExit(f"golden: cnnzoo {' '.join(argv)} exited {code}")
    return out.getvalue()


def models() -> list[str]:
    """Every model name, from ``cnnzoo list``."""
    return [line.split()[0] for line in cli("list").splitlines()[1:] if line.strip()]


def strip_timings(value):
    """``value`` (parsed JSON) without the keys of :data:`TIMING_KEYS`."""
    if isinstance(value, dict):
        return {k: strip_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [strip_timings(v) for v in value]
    return value


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def csv_rows(text: str) -> str:
    """CSV text without the columns of :data:`TIMING_KEYS`."""
    rows = list(csv.DictReader(io.StringIO(text)))
    keep = [k for k in (rows[0] if rows else {}) if k not in TIMING_KEYS]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, keep, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def canonical(text: str) -> str:
    """JSON text sorted and indented, without the keys of :data:`TIMING_KEYS`."""
    return json.dumps(strip_timings(json.loads(text)), indent=1, sort_keys=True) + "\n"


def record_summaries(out: Path) -> None:
    for name in models():
        write(out / "summary" / f"{name}.json", canonical(cli("summary", name, "--format", "json")))
    write(out / "compare.json", canonical(cli("compare", "--format", "json")))


def train_checkpoint(out: Path) -> Path:
    """A lenet5 trained one epoch on 2,000 Fashion-MNIST images (kept in ``out``)."""
    run = out / "run"
    if not (run / "best.pt").exists():
        flags = "--dataset fashion-mnist --epochs 1 --subset 2000 --seed 0"
        cli("train", "lenet5", *flags.split(), "--out", str(run))
    return run / "best.pt"


def record_bench(out: Path, checkpoint: Path) -> None:
    flags = "--runtime eager,fold,onnxruntime --precision fp32,int8 --rounds 1 --format json"
    text = cli("bench", "lenet5", str(checkpoint), *flags.split())
    data = strip_timings(json.loads(text))
    write(out / "bench.json", json.dumps(data, indent=1, sort_keys=True) + "\n")


def record_export(out: Path, scratch: Path, checkpoint: Path) -> None:
    import onnxruntime

    onnx = scratch / "lenet5.onnx"
    cli("export", str(checkpoint), "--format", "onnx", "--out", str(onnx))
    session = onnxruntime.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0]
    inputs = np.random.default_rng(0).standard_normal((1, *feed.shape[1:]), dtype=np.float32)
    logits = session.run(None, {feed.name: inputs})[0]
    write(out / "export_onnx_logits.json", json.dumps(np.round(logits, 5).tolist()) + "\n")


def record_folder(out: Path, folder: Path, name: str) -> None:
    """Every file of ``folder``: JSON canonically, arrays as their values, images by size."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name in SKIPPED_FILES:
            continue
        rel = path.relative_to(folder)
        target = out / name / rel
        if path.suffix == ".json":
            write(target, canonical(path.read_text()))
        elif path.suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            write(
                target.with_suffix(".npy.json"),
                json.dumps(
                    {
                        "shape": list(array.shape),
                        "dtype": str(array.dtype),
                        "values": np.round(array.astype(np.float64), 4).ravel().tolist(),
                    }
                ),
            )
        else:
            write(target.with_suffix(target.suffix + ".present"), "")


def record_embed(out: Path, scratch: Path, checkpoint: Path) -> Path:
    folder = scratch / "embed"
    cli("embed", str(checkpoint), "--n", "300", "--seed", "0", "--out", str(folder))
    record_folder(out, folder, "embed")
    return folder


def record_nas(out: Path, scratch: Path) -> Path:
    folder = scratch / "nas"
    flags = (
        "--dataset fashion-mnist --strategy evolution --budget-candidates 4 --population 2 "
        "--sample 2 --seed 1 --proxy-cells 1 --proxy-filters 8 --proxy-epochs 1 "
        "--proxy-train-images 500 --proxy-val-images 200"
    )
    cli("nas", "search", *flags.split(), "--out", str(folder))
    for name in ("pareto.json", "search.json", "best_genotype.json", "history.csv"):
        if (folder / name).exists():
            text = (folder / name).read_text()
            write(out / "nas" / name, canonical(text) if name.endswith(".json") else csv_rows(text))
    return folder


def record_report(out: Path, scratch: Path, checkpoint: Path, embed: Path, nas: Path) -> None:
    site = scratch / "site"
    inputs = ["--runs", str(checkpoint.parent), "--embed", str(embed), "--nas", str(nas)]
    cli("report", "--models", "lenet5", "alexnet", "resnet18", *inputs, "--out", str(site))
    pages = json.loads((site / "report.json").read_text())["pages"]
    write(out / "report_pages.json", json.dumps(pages, indent=1, sort_keys=True) + "\n")


def record(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    scratch = out / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    checkpoint = train_checkpoint(out)
    record_summaries(out)
    record_bench(out, checkpoint)
    record_export(out, scratch, checkpoint)
    embed = record_embed(out, scratch, checkpoint)
    nas = record_nas(out, scratch)
    record_report(out, scratch, checkpoint, embed, nas)
    shutil.rmtree(scratch)
    normalise(out)


def normalise(out: Path) -> None:
    """Write ``$ROOT`` for ``out``'s path in every recorded file and every JSON file canonically,
    so that two records compare."""
    root = str(out.resolve())
    for path in out.rglob("*"):
        if path.is_file() and path.relative_to(out).parts[0] != "run":
            text = path.read_text().replace(root, "$ROOT")
            path.write_text(canonical(text) if path.suffix == ".json" else text)


def differences(golden: Path, fresh: Path) -> list[str]:
    """The files that are not identical in ``golden`` and ``fresh`` (the run and scratch aside)."""

    def files(root: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in root.rglob("*")
            if p.is_file() and p.relative_to(root).parts[0] not in ("run", "scratch")
        }

    a, b = files(golden), files(fresh)
    return sorted(
        f"{name}: {where(name in a, name in b)}"
        for name in a.keys() | b.keys()
        if a.get(name) != b.get(name)
    )


def where(in_golden: bool, in_fresh: bool) -> str:
    return "differs" if in_golden and in_fresh else "only golden" if in_golden else "only fresh"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    rec = sub.add_parser("record", help="record the golden outputs into GOLDEN")
    rec.add_argument("golden", type=Path)
    chk = sub.add_parser("check", help="record FRESH with GOLDEN's checkpoint and compare")
    chk.add_argument("golden", type=Path)
    chk.add_argument("fresh", type=Path)
    return parser.parse_args(argv)


def run(argv: list[str]) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.action == "record":
        record(args.golden)
        count = sum(1 for p in args.golden.rglob("*") if p.is_file())
        print(f"recorded {count} files in {args.golden}")
        return 0
    if not (args.fresh / "run").exists():  # the same weights, at the same place in the record
        shutil.copytree(args.golden / "run", args.fresh / "run")
    record(args.fresh)
    diff = differences(args.golden, args.fresh)
    for line in diff:
        print(line)
    print("identical" if not diff else f"{len(diff)} files differ")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
