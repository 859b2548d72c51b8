"""Does static int8 keep a trained network's accuracy? resnet20 on Fashion-MNIST, fp32 and int8,
exported to ONNX (run by ONNX Runtime) and ExecuTorch (XNNPACK), each evaluated on the full
10,000-image test split beside the fp32 PyTorch model.

Trains resnet20 for 3 epochs (bf16 autocast, channels-last) with the training engine, or reuses a
run folder given with ``--run DIR``; exports its ``best.pt`` four ways with the library code of
``cnnzoo export`` (int8 calibrated on 512 TRAINING images of Fashion-MNIST, never the test
split), and writes ``benchmarks/results/int8_accuracy.json`` and ``.md`` (top-1 of each file,
its difference from fp32 PyTorch, the agreement of predictions, file sizes, export seconds and
the environment).

Run: .venv/bin/python benchmarks/int8_accuracy.py [--run runs/DIR] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import ROOT, closing_lines

from cnnzoo.env import environment
from cnnzoo.export.command import ExportConfig, export_model, file_runner, load_subject, test_top1
from cnnzoo.files import write_text_atomic

RESULTS = ROOT / "benchmarks" / "results"
VARIANTS = (("onnx", None), ("onnx", "int8"), ("executorch", None), ("executorch", "int8"))


def train(epochs: int, out: Path) -> Path:
    """Train resnet20 on Fashion-MNIST into ``out``; its folder."""
    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.engine import run

    run(TrainConfig("resnet20", epochs=epochs, precision="bf16", channels_last=True, out=str(out)))
    return out


def measure(checkpoint: Path, fmt: str, quantize: str | None, folder: Path) -> dict:
    """Export ``checkpoint`` one way and evaluate the file on the whole test split."""
    suffix = f"{'-' + quantize if quantize else ''}.{'onnx' if fmt == 'onnx' else 'pte'}"
    config = ExportConfig(str(checkpoint), format=fmt, quantize=quantize,
                          out=str(folder / f"resnet20{suffix}"))  # fmt: skip
    result = export_model(config)
    subject = load_subject(config)
    run = file_runner(result["file"], fmt, 1)
    start = time.perf_counter()
    accuracy = test_top1(run, subject.model, subject, config)
    runtime = {"onnx": "ONNX Runtime", "executorch": "ExecuTorch (XNNPACK)"}[fmt]
    result.update(runtime=runtime, accuracy=accuracy, eval_s=time.perf_counter() - start)
    print(f"{fmt} {result['precision']}: top-1 {accuracy['top1_file']:.2%} (fp32 PyTorch "
          f"{accuracy['top1_fp32']:.2%}), {result['bytes']:,} bytes, export "
          f"{result['export_s']:.1f} s, eval {result['eval_s']:.1f} s", flush=True)  # fmt: skip
    return result


def render_md(record: dict) -> str:
    """The Markdown report of :func:`main`'s record."""
    rows = [
        "| file | runtime | precision | size (bytes) | test top-1 | vs fp32 PyTorch (points) | "
        "same prediction | export s | eval s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in record["results"]:
        a = r["accuracy"]
        rows.append(
            f"| {Path(r['file']).name} | {r['runtime']} | {r['precision']} | {r['bytes']:,} | "
            f"{a['top1_file']:.2%} | {(a['top1_file'] - a['top1_fp32']) * 100:+.2f} | "
            f"{a['agree']:.2%} | {r['export_s']:.1f} | {r['eval_s']:.1f} |"
        )
    return "\n".join([
        "# int8 accuracy: resnet20 on Fashion-MNIST",
        "",
        f"Checkpoint `{record['checkpoint']}`; fp32 PyTorch eager test top-1 "
        f"{record['fp32_top1']:.2%} on {record['test_images']:,} test images. int8: static, "
        "calibrated on 512 training images (ONNX Runtime `quantize_static` QDQ per-channel; "
        "ExecuTorch PT2E `XNNPACKQuantizer` per-channel).",
        "",
        *rows,
        "",
        *closing_lines(record),
    ])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="reuse this run folder (its best.pt)")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    folder = args.run or train(
        args.epochs, ROOT / "runs" / f"int8-resnet20-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    checkpoint = folder / "best.pt"
    results = [measure(checkpoint, fmt, q, folder) for fmt, q in VARIANTS]
    for r in results:
        r.pop("verify", None)
    first = results[0]["accuracy"]
    record = {
        "schema": "cnnzoo-int8-accuracy", "version": 1, "checkpoint": str(checkpoint),
        "command": " ".join(["python", *sys.argv]), "fp32_top1": first["top1_fp32"],
        "test_images": first["count"], "environment": environment("cpu"), "results": results,
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2) + "\n"
    write_text_atomic(RESULTS / "int8_accuracy.json", text)
    write_text_atomic(RESULTS / "int8_accuracy.md", render_md(record))
    print(f"wrote {RESULTS / 'int8_accuracy.json'} and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
