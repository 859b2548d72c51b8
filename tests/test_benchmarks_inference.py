"""benchmarks/inference.py's report: one record per kind of host, read strongest kind first, and
the speed-ups side by side with a column set per kind."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_inference():
    saved = dict(os.environ)  # the script sets OMP_WAIT_POLICY for its own process
    sys.path.insert(0, str(BENCHMARKS))  # the script imports benchmarks/common.py
    try:
        spec = importlib.util.spec_from_file_location("inference", BENCHMARKS / "inference.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
        os.environ.clear()
        os.environ.update(saved)
    return module


inference = load_inference()


def result(runtime, precision, median, *, status="ok", exact=False, batch=1):
    timed = status in ("ok", "unjudged")
    return {
        "model": "m",
        "runtime": runtime,
        "precision": precision,
        "batch_size": batch,
        "mode": "infer",
        "status": status,
        "reason": None if status == "ok" else "why",
        "prepare_s": 0.1 if timed else None,
        "latency_ms": {"median": median, "iqr": 0.1} if timed else None,
        "images_per_s": 1000 * batch / median if timed else None,
        "speedup": 4.0 / median if timed else None,
        "max_rel_diff": 0.0 if exact else 1e-2,
        "exact": exact,
        "emulated": False,
        "peak_memory_mib": 1,
    }


def record(cpu: str, flags: list[str], results: list[dict]) -> dict:
    env = {"cpu": cpu, "cpu_flags": flags, "cores": 2, "torch": "2"}
    settings = {"threads": 2, "rounds": 5, "warmup": 3}
    return {"schema": "cnnzoo-bench", "version": 1, "environment": env, "settings": settings,
            "results": results, "summary": []}  # fmt: skip


AMX = record(
    "Xeon",
    ["avx2", "avx512f", "avx512_bf16", "amx_bf16"],
    [
        result("eager", "fp32", 4.0, exact=True),
        result("onnxruntime", "fp32", 2.0, exact=True),
        result("compile", "bf16", 1.0),
        result("executorch", "int8", 0.5, status="unjudged"),
        result("onnxruntime", "bf16", 0.1, status="skipped"),
    ],
)
EPYC = record(
    "EPYC",
    ["avx2", "avx512f", "avx512_bf16"],
    [
        result("eager", "fp32", 4.0, exact=True),
        result("fold", "fp32", 3.2, exact=True),
        result("eager", "bf16", 2.0),
        result("onnxruntime", "int8", 1.0),  # judged and agreeing
        result("eager", "fp32", 8.0, exact=True, batch=8),
    ],
)


@pytest.fixture
def records(tmp_path, monkeypatch):
    """The two kinds' records written as the script writes them, and read back."""
    monkeypatch.setattr(inference, "RESULTS", tmp_path)
    for kind, rec in (("avx512-bf16", EPYC), ("amx", AMX)):
        inference.record_path("inference", kind).write_text(json.dumps(rec))
    return inference.kind_records("inference")


def test_records_are_read_per_kind_strongest_first(records, tmp_path):
    assert inference.record_path("x", "amx") == tmp_path / "x_amx.json"
    assert list(records) == ["amx", "avx512-bf16"]
    (summary, _) = records["avx512-bf16"]["summary"]  # recomputed from the results
    assert summary["fastest_by_precision"]["int8"]["runtime"] == "onnxruntime"
    assert records["amx"]["summary"][0]["fastest_by_precision"]["int8"] is None  # unjudged


def test_speedups_side_by_side_one_column_set_per_kind(records):
    lines = inference.host_columns(records).splitlines()
    assert lines[0] == (
        "| model | batch | amx: eager fp32 | exact | bf16 | int8 "
        "| avx512-bf16: eager fp32 | exact | bf16 | int8 |"
    )
    assert lines[2] == (
        "| m | 1 | 4.00 ms | 2.00x onnxruntime | 4.00x compile | 8.00x executorch? "
        "| 4.00 ms | 1.25x fold | 2.00x eager | 4.00x onnxruntime |"
    )
    assert lines[3] == "| m | 8 | - | - | - | - | 8.00 ms | 0.50x eager | - | - |"
    assert len(lines) == 4


def test_the_report_has_each_kinds_section_and_fastest_lines(records):
    text = inference.markdown(records)
    assert "Kinds: amx (Xeon); avx512-bf16 (EPYC)." in text
    assert text.index("## amx: Xeon, 2 cores") < text.index("## avx512-bf16: EPYC, 2 cores")
    assert (
        "m b1: fastest exact onnxruntime fp32 2.00x; fastest bf16 compile 4.00x; "
        "fastest int8 none; fastest overall compile bf16 4.00x"
    ) in text
