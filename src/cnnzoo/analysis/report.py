"""The profiler's report as data, and its renderers (table, JSON, CSV).

A :class:`Report` is a frozen dataclass with a schema version; it knows nothing about how it is
shown. :func:`render_table`, :func:`to_json` and :func:`to_csv` are separate functions over it, and
:func:`from_json` reads a JSON report back. :func:`collapse` folds rows deeper than ``depth`` name
components into their ancestor; the table's ``depth`` and the report's per-stage aggregates use it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from cnnzoo.text import table

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class FieldDim:
    """The receptive field of a feature map along one spatial dimension, in input pixels.

    Args:
        size: width of the field of one output pixel (padding included).
        jump: distance between the fields of neighbouring output pixels (the effective stride).
        start: centre of the first output pixel's field; input pixel ``i`` spans ``[i, i + 1)``,
            so the input itself has ``start = 0.5``.
    """

    size: int
    jump: int
    start: float


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field along height and width.

    ``is_global`` marks a tensor whose every value depends on the whole map it was reduced from
    (global pooling, flatten, a linear layer after them); ``h`` and ``w`` then give the extent of
    all the fields of that map together.
    """

    h: FieldDim
    w: FieldDim
    is_global: bool = False


@dataclass(frozen=True)
class Row:
    """One line of the report: a leaf module call, or one functional operation of a container.

    Args:
        name: qualified module name (a second call of the same module gets ``#1``, ``#2`` ...), or
            ``<container>.<op>#k`` for an operation that ran outside any leaf module.
        type: the module's class name, or ``functional:<op>``.
        output_shape: shape of the (first) output tensor, ``()`` if there is none.
        params_trainable: the module's own parameters (``recurse=False``) that require grad,
            counted on the module's first call only.
        params_non_trainable: its own parameters that do not require grad (buffers never count).
        macs_conv_linear: multiply-accumulates of convolutions and matrix products.
        macs_other: multiply-accumulate equivalents of everything else (see ``analysis.ops``).
        activation_bytes: size of the output tensor(s).
        allocated_bytes: the part of ``activation_bytes`` that is new memory (0 for an in-place
            operation, a view or a module that returns its input); totals add this column.
        receptive_field: of the output w.r.t. the input image; ``None`` if unknown.
        unknown_ops: names of the aten operations the profiler has no formula for (once per call).
    """

    name: str
    type: str
    output_shape: tuple[int, ...]
    params_trainable: int = 0
    params_non_trainable: int = 0
    macs_conv_linear: int = 0
    macs_other: int = 0
    activation_bytes: int = 0
    allocated_bytes: int = 0
    receptive_field: ReceptiveField | None = None
    unknown_ops: tuple[str, ...] = ()

    @property
    def params(self) -> int:
        return self.params_trainable + self.params_non_trainable

    @property
    def depth(self) -> int:
        """Number of components of the qualified name."""
        return name_depth(self.name)


@dataclass(frozen=True)
class Totals:
    """Whole-model figures.

    Args:
        params: ``sum(p.numel())`` over all the model's parameters, modules that did not run
            (auxiliary heads in eval mode) included.
        params_trainable: the part of ``params`` that requires grad.
        params_in_rows: parameters of the modules that ran (the sum of the rows).
        macs_conv_linear: multiply-accumulates of convolutions and matrix products.
        macs_other: multiply-accumulate equivalents of all other operations.
        flops_conv_linear: ``2 * macs_conv_linear`` (FLOPs counted as two per MAC).
        flops_other: ``2 * macs_other``.
        activation_bytes: new memory of all row outputs (``Row.allocated_bytes`` summed).
        unknown_op_count: calls of operations without a formula; their cost is not in the MACs.
        unknown_ops: their names, sorted, once each.
        depth: weight layers (convolutions and matrix products) on the longest path from the
            input to the output, the depth papers quote ("VGG-16", "ResNet-50").
    """

    params: int
    params_trainable: int
    params_in_rows: int
    macs_conv_linear: int
    macs_other: int
    flops_conv_linear: int
    flops_other: int
    activation_bytes: int
    unknown_op_count: int
    unknown_ops: tuple[str, ...] = ()
    depth: int = 0


@dataclass(frozen=True)
class Report:
    """What :func:`cnnzoo.analysis.profile` measured for one model at one input size.

    Args:
        model: the model's name (registry name, or class name).
        input_size: ``(C, H, W)``; the batch is 1.
        dtype: dtype of activations and floating parameters, e.g. ``"float32"``.
        rows: one per leaf module call and per functional operation, in execution order.
        totals: whole-model figures.
        stages: the rows collapsed to ``stage_depth`` name components.
        stage_depth: the depth of ``stages``.
        final_receptive_field: field of the last row with a 4-D output and a non-global field.
        final_receptive_field_row: that row's name.
        module_types: class name of every container module (used to name collapsed rows).
        schema_version: :data:`SCHEMA_VERSION` of the code that wrote it.
    """

    model: str
    input_size: tuple[int, int, int]
    dtype: str
    rows: tuple[Row, ...]
    totals: Totals
    stages: tuple[Row, ...]
    stage_depth: int
    final_receptive_field: ReceptiveField | None
    final_receptive_field_row: str | None
    module_types: dict[str, str]
    schema_version: int = SCHEMA_VERSION


def name_depth(name: str) -> int:
    """Number of dot-separated components of a qualified name (``"layer1.0.add#0"`` -> 3)."""
    return name.count(".") + 1


def collapse(rows: Sequence[Row], depth: int, module_types: dict[str, str]) -> tuple[Row, ...]:
    """Fold rows deeper than ``depth`` components into their depth-``depth`` ancestor.

    A folded row sums parameters, MACs and new memory (``allocated_bytes``, which is also its
    ``activation_bytes``) of its members; its output shape and receptive field are those of its
    last member, which for a block is the block's output. Groups keep the order of their first
    row.

    Args:
        rows: report rows in execution order.
        depth: number of name components to keep, at least 1.
        module_types: container class names, from :attr:`Report.module_types`.

    Returns:
        The folded rows.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(".".join(row.name.split(".")[:depth]), []).append(row)
    folded = []
    for prefix, members in groups.items():
        if len(members) == 1 and members[0].name == prefix:
            folded.append(members[0])
            continue
        last = members[-1]
        allocated = sum(r.allocated_bytes for r in members)
        folded.append(
            Row(
                name=prefix,
                type=module_types.get(prefix, last.type),
                output_shape=last.output_shape,
                params_trainable=sum(r.params_trainable for r in members),
                params_non_trainable=sum(r.params_non_trainable for r in members),
                macs_conv_linear=sum(r.macs_conv_linear for r in members),
                macs_other=sum(r.macs_other for r in members),
                activation_bytes=allocated,
                allocated_bytes=allocated,
                receptive_field=last.receptive_field,
                unknown_ops=tuple(op for r in members for op in r.unknown_ops),
            )
        )
    return tuple(folded)


# --- JSON ---------------------------------------------------------------------------------------


def to_json(report: Report, *, indent: int | None = 1) -> str:
    """The report as JSON: the dataclass fields, tuples as lists."""
    return json.dumps(dataclasses.asdict(report), indent=indent)


def from_json(text: str) -> Report:
    """Read a report written by :func:`to_json`.

    Raises:
        ValueError: the text was written under another schema version.
    """
    data = json.loads(text)
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"report schema version {version} cannot be read (this code reads {SCHEMA_VERSION})"
        )
    return Report(
        model=data["model"],
        input_size=tuple(data["input_size"]),
        dtype=data["dtype"],
        rows=tuple(_row_from_dict(r) for r in data["rows"]),
        totals=Totals(**{**data["totals"], "unknown_ops": tuple(data["totals"]["unknown_ops"])}),
        stages=tuple(_row_from_dict(r) for r in data["stages"]),
        stage_depth=data["stage_depth"],
        final_receptive_field=_field_from_dict(data["final_receptive_field"]),
        final_receptive_field_row=data["final_receptive_field_row"],
        module_types=dict(data["module_types"]),
        schema_version=version,
    )


def _field_from_dict(data: dict | None) -> ReceptiveField | None:
    if data is None:
        return None
    return ReceptiveField(FieldDim(**data["h"]), FieldDim(**data["w"]), data["is_global"])


def _row_from_dict(data: dict) -> Row:
    return Row(
        **{
            **data,
            "output_shape": tuple(data["output_shape"]),
            "receptive_field": _field_from_dict(data["receptive_field"]),
            "unknown_ops": tuple(data["unknown_ops"]),
        }
    )


# --- CSV ----------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "name",
    "type",
    "output_shape",
    "params_trainable",
    "params_non_trainable",
    "macs_conv_linear",
    "macs_other",
    "activation_bytes",
    "allocated_bytes",
    "rf_h",
    "rf_w",
    "jump_h",
    "jump_w",
    "start_h",
    "start_w",
    "rf_global",
    "unknown_ops",
)


def to_csv(report: Report, *, depth: int | None = None) -> str:
    """The rows as CSV: a header line (:data:`CSV_COLUMNS`), then one line per row.

    Shapes are written ``1x64x56x56``; receptive-field cells are empty where it is unknown;
    ``unknown_ops`` is ``;``-separated. ``depth`` folds rows as :func:`collapse` does.
    """
    rows = report.rows if depth is None else collapse(report.rows, depth, report.module_types)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        rf = row.receptive_field
        field_cells = (
            ["", "", "", "", "", "", ""]
            if rf is None
            else [rf.h.size, rf.w.size, rf.h.jump, rf.w.jump, rf.h.start, rf.w.start, rf.is_global]
        )
        writer.writerow(
            [
                row.name,
                row.type,
                "x".join(map(str, row.output_shape)),
                row.params_trainable,
                row.params_non_trainable,
                row.macs_conv_linear,
                row.macs_other,
                row.activation_bytes,
                row.allocated_bytes,
                *field_cells,
                ";".join(row.unknown_ops),
            ]
        )
    return out.getvalue()


# --- table --------------------------------------------------------------------------------------


def si(value: float) -> str:
    """A count with an SI prefix and two decimals: ``15_470_264_320 -> "15.47 G"``."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}"
    return f"{value:g}"


def binary_size(num_bytes: int) -> str:
    """Bytes with a binary prefix: ``3_211_264 -> "3.06 MiB"``."""
    for factor, prefix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if num_bytes >= factor:
            return f"{num_bytes / factor:.2f} {prefix}"
    return f"{num_bytes} B"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def format_field(rf: ReceptiveField | None) -> tuple[str, str, str]:
    """(size, jump, start) cells: ``"7"`` when square, ``"7x5"`` otherwise; ``"?"`` if unknown;
    the size of a global field carries a ``" g"`` mark."""
    if rf is None:
        return "?", "?", "?"

    def pair(h: float, w: float) -> str:
        return _number(h) if h == w else f"{_number(h)}x{_number(w)}"

    size = pair(rf.h.size, rf.w.size) + (" g" if rf.is_global else "")
    return size, pair(rf.h.jump, rf.w.jump), pair(rf.h.start, rf.w.start)


def render_table(report: Report, depth: int | None = None, *, width: int = 160) -> str:
    """The report as a text table, then the totals.

    Args:
        report: a profiler report.
        depth: fold rows deeper than this many name components (see :func:`collapse`); ``None``
            shows every row.
        width: characters per line of the explanatory note.

    Returns:
        The table as plain text.
    """
    rows = report.rows if depth is None else collapse(report.rows, depth, report.module_types)
    c, h, w = report.input_size
    headers = (
        "Layer",
        "Type",
        "Output",
        "Params",
        "MACs conv+lin",
        "MACs other",
        "Output memory",
        "RF",
        "Jump",
        "Start",
    )
    cells = []
    for row in rows:
        note = f" unknown: {','.join(sorted(set(row.unknown_ops)))}" if row.unknown_ops else ""
        cells.append(
            (
                "  " * (row.depth - 1) + row.name,
                row.type + note,
                "x".join(map(str, row.output_shape)),
                f"{row.params:,}",
                si(row.macs_conv_linear),
                si(row.macs_other),
                binary_size(row.activation_bytes) + ("" if row.allocated_bytes else " *"),
                *format_field(row.receptive_field),
            )
        )
    t = report.totals
    totals = [
        ("parameters (all modules)", f"{t.params:,}"),
        ("  trainable", f"{t.params_trainable:,}"),
        ("  in modules that ran", f"{t.params_in_rows:,}"),
        ("MACs conv+linear", f"{si(t.macs_conv_linear)}  ({t.macs_conv_linear:,})"),
        ("FLOPs conv+linear (2 x MACs)", si(t.flops_conv_linear)),
        ("MACs other", f"{si(t.macs_other)}  ({t.macs_other:,})"),
        ("FLOPs other (2 x MACs)", si(t.flops_other)),
        ("activation memory (new allocations)", binary_size(t.activation_bytes)),
        ("weight layers on the longest path", str(t.depth)),
        ("unknown operations", f"{t.unknown_op_count} {', '.join(t.unknown_ops)}".rstrip()),
    ]
    if report.final_receptive_field is not None:
        size, jump, start = format_field(report.final_receptive_field)
        totals.append(
            (
                "receptive field of the last feature map",
                f"{size} (jump {jump}, start {start}) at {report.final_receptive_field_row}",
            )
        )
    note = textwrap.fill(
        "MACs: multiply-accumulates. Output memory: * = shares memory with an earlier output "
        "(in-place, view, pass-through). RF: receptive field in input pixels (g = global), "
        "Jump: its effective stride, Start: centre of the first output pixel's field.",
        width=width,
    )
    lines = [
        f"{report.model}  input 1x{c}x{h}x{w}  {report.dtype}",
        "",
        table(cells, headers, align="<<<>>>>>>>", rule="─"),
        "",
        note,
        "",
        table(totals, align="<>"),
    ]
    return "\n".join(lines) + "\n"
