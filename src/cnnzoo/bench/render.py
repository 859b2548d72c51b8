"""Renderers of a bench record (the ``cnnzoo-bench`` JSON schema): a table ending with the fastest
lines, CSV (one row per result), JSON; and the atomic file write ``--out`` uses."""

from __future__ import annotations

import csv
import io
import json

from cnnzoo.bench.core import SCHEMA, VERSION
from cnnzoo.export.judge import MIN_AGREEMENT
from cnnzoo.text import table

CSV_FIELDS = (
    "model",
    "runtime",
    "precision",
    "batch_size",
    "input",
    "mode",
    "status",
    "reason",
    "note",
    "prepare_s",
    "latency_median_ms",
    "latency_min_ms",
    "latency_max_ms",
    "latency_iqr_ms",
    "images_per_s",
    "peak_memory_mib",
    "max_abs_diff",
    "max_rel_diff",
    "exact",
    "speedup",
    "emulated",
    "agreement",
    "top1",
    "top1_fp32",
    "judged_images",
)


def fmt(value, spec: str, empty: str = "-") -> str:
    """``value`` formatted with ``spec``, or ``empty`` for ``None``."""
    return empty if value is None else format(value, spec)


def choice_text(choice: dict | None, *, with_precision: bool = True) -> str:
    """``"onnxruntime fp32 1.62x"`` for a summary choice (``"onnxruntime 1.62x"`` without its
    precision); ``"none"`` without one."""
    if choice is None:
        return "none"
    ratio = "?" if choice["speedup"] is None else f"{choice['speedup']:.2f}x"
    precision = f" {choice['precision']}" if with_precision else ""
    return f"{choice['runtime']}{precision} {ratio}"


def fastest_line(row: dict) -> str:
    """``resnet50 b1: fastest exact onnxruntime fp32 1.62x; fastest bf16 compile 1.68x; fastest
    int8 none; fastest overall compile bf16 1.68x`` (`` train`` after the batch size in training
    mode; a reduced precision reads ``none`` when none of its variants qualifies, e.g. int8 that
    was timed but could not be judged)."""
    mode = "" if row["mode"] == "infer" else f" {row['mode']}"
    parts = [f"fastest exact {choice_text(row['fastest_exact'])}"]
    parts += [
        f"fastest {precision} {choice_text(choice, with_precision=False)}"
        for precision, choice in row.get("fastest_by_precision", {}).items()
    ]
    parts.append(f"fastest overall {choice_text(row['fastest'])}")
    return f"{row['model']} b{row['batch_size']}{mode}: " + "; ".join(parts)


def render_table(record: dict) -> str:
    """The results as a plain-text table, skipped rows with their reasons, then the fastest lines.

    Args:
        record: a bench record.

    Returns:
        The text, ending with one line per model, batch size and mode (see :func:`fastest_line`).
    """
    header = (
        "model",
        "runtime",
        "prec",
        "batch",
        "status",
        "prepare s",
        "median ms",
        "iqr ms",
        "img/s",
        "speedup",
        "max rel diff",
        "exact",
        "agree",
        "peak MiB",
    )
    rows, notes = [], []
    for r in record["results"]:
        lat = r["latency_ms"] or {}
        precision = r["precision"] + ("*" if r["emulated"] else "")
        rows.append(
            (
                r["model"],
                r["runtime"],
                precision,
                str(r["batch_size"]),
                r["status"],
                fmt(r["prepare_s"], ".2f"),
                fmt(lat.get("median"), ".3f"),
                fmt(lat.get("iqr"), ".3f"),
                fmt(r["images_per_s"], ",.1f"),
                fmt(r["speedup"], ".2f"),
                fmt(r["max_rel_diff"], ".1e"),
                fmt(r["exact"], ""),
                fmt(r.get("agreement"), ".2%"),
                fmt(r["peak_memory_mib"], ".0f"),
            )
        )
        if r["status"] != "ok":
            notes.append(
                f"{r['model']} {r['runtime']} {r['precision']} b{r['batch_size']} "
                f"{r['status']}: {r['reason']}"
            )
    names, numbers = 5, len(header) - 5  # model .. status left-aligned, the numbers right
    lines = [table(rows, header, align="<" * names + ">" * numbers)]
    settings = record["settings"]
    env = record["environment"]
    lines.append("")
    lines.append(
        f"{env['cpu']}; flags {' '.join(env['cpu_flags']) or 'none'}; "
        f"{settings['threads']} threads; {settings['rounds']} rounds after "
        f"{settings['warmup']} warm-up; torch {env['torch']}"
    )
    if settings.get("warning"):
        lines.append(f"warning: {settings['warning']}")
    if any(r["emulated"] for r in record["results"]):
        lines.append("* bf16 emulated: this CPU has no avx512_bf16 or amx_bf16")
    judged = [r["judged_images"] for r in record["results"] if r.get("judged_images")]
    if judged:
        lines.append(
            f"agree: share of the checkpoint's first {max(judged):,} test images on "
            f"which the variant's top-1 is fp32 eager's (needs >= "
            f"{MIN_AGREEMENT:.0%})"
        )
    lines += notes
    lines += [fastest_line(row) for row in record["summary"]]
    return "\n".join(lines) + "\n"


def to_csv(record: dict) -> str:
    """One CSV row per result (latency flattened into four columns)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in record["results"]:
        lat = r["latency_ms"] or {}
        row = {k: r.get(k) for k in CSV_FIELDS}
        row["input"] = "x".join(map(str, r["input"]))
        for key in ("median", "min", "max", "iqr"):
            row[f"latency_{key}_ms"] = lat.get(key)
        writer.writerow(row)
    return out.getvalue()


def to_json(record: dict) -> str:
    """The whole record as indented JSON."""
    return json.dumps(record, indent=2) + "\n"


def from_json(text: str) -> dict:
    """A bench record read back, checked for the schema name and version.

    Raises:
        ValueError: not a cnnzoo-bench record of this version.
    """
    record = json.loads(text)
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} record")
    if record.get("version") != VERSION:
        raise ValueError(f"{SCHEMA} version {record.get('version')} is not {VERSION}")
    return record


RENDERERS = {"table": render_table, "json": to_json, "csv": to_csv}
