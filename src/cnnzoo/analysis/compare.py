"""One row per model: our measured figures beside what its paper reports.

``compare_rows()`` with no names gives every model of the zoo that has a published reference, in
order of year: the "evolution of depth" table (depth in weight layers, parameters, mult-adds,
ImageNet errors). Our figures come from the profiler at the reference's input and options; the
paper's from ``cnnzoo/reference/models.json`` (free text there, parsed into numbers where it
states one).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from cnnzoo.analysis.profiler import profile
from cnnzoo.analysis.report import Report, binary_size, format_field, si
from cnnzoo.reference import ReferenceModel, reference_models
from cnnzoo.registry import REGISTRY, get_model_spec

_UNITS = {"K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9}


@dataclass(frozen=True)
class CompareRow:
    """Our figures for one model and, where known, its paper's.

    Args:
        name, family, year: from the registry.
        input_size: ``(C, H, W)`` measured at (the paper's standard input).
        depth: weight layers on the longest path.
        params: parameter count (auxiliary heads excluded where the reference excludes them).
        macs: conv+linear multiply-accumulates for one image.
        activation_bytes: float32 activation memory of one forward pass.
        receptive_field: receptive field of the last feature map (``"435"`` or ``"7x5"``).
        paper_params: parameters the paper states (``None`` if it states none).
        paper_mult_adds: mult-adds the paper (or the quoted source) states.
        paper_imagenet: the paper's ImageNet errors or accuracies, as quoted.
        paper_source: where the paper figures come from.
    """

    name: str
    family: str
    year: int
    input_size: tuple[int, int, int]
    depth: int
    params: int
    macs: int
    activation_bytes: int
    receptive_field: str
    paper_params: float | None = None
    paper_mult_adds: float | None = None
    paper_imagenet: str = ""
    paper_source: str = ""

    @property
    def params_rel_diff(self) -> float | None:
        """``(ours - paper) / paper`` for the parameters."""
        return relative_difference(self.params, self.paper_params)

    @property
    def macs_rel_diff(self) -> float | None:
        """``(ours - paper) / paper`` for the mult-adds."""
        return relative_difference(self.macs, self.paper_mult_adds)


def relative_difference(ours: float, paper: float | None) -> float | None:
    """``(ours - paper) / paper``, or ``None`` when the paper gives no figure."""
    return None if not paper else (ours - paper) / paper


def parse_millions(text: str | None) -> float | None:
    """A parameter count quoted in millions (``"138 (config D)"``, ``"~6.8"``) as a number."""
    match = re.match(r"\s*~?\s*(\d+(?:\.\d+)?)", text or "")
    return float(match.group(1)) * 1e6 if match else None


def parse_mult_adds(text: str | None) -> float | None:
    """Mult-adds quoted with a unit (``"720M (...)"``, ``"~1.5G"``, ``"23.8B"``) as a number."""
    match = re.match(r"\s*~?\s*(\d+(?:\.\d+)?)\s*([KMGB])\b", text or "")
    return float(match.group(1)) * _UNITS[match.group(2)] if match else None


def default_names() -> list[str]:
    """Models of the zoo with a published reference, ordered by year, then parameters."""
    rows = [r for r in reference_models() if r.name in REGISTRY]
    return [r.name for r in sorted(rows, key=lambda r: (get_model_spec(r.name).year, r.params))]


def measured_setting(
    name: str, reference: ReferenceModel | None = None
) -> tuple[tuple[int, int, int], dict]:
    """The input size and builder options ``name`` is compared at: its reference's, if any,
    else its standard input with the builder's defaults."""
    if reference is None:
        return tuple(get_model_spec(name).input_size), {}
    return tuple(reference.input_size), {**reference.kwargs, "num_classes": reference.num_classes}


def compare_row(
    name: str, reference: ReferenceModel | None = None, report: Report | None = None
) -> CompareRow:
    """Profile ``name`` (at :func:`measured_setting`) and pair it with the paper; ``report``:
    a profile already measured at that setting, used instead of profiling again."""
    spec = get_model_spec(name)
    if report is None:
        input_size, kwargs = measured_setting(name, reference)
        report = profile(name, input_size, model_kwargs=kwargs)
    input_size = report.input_size
    paper = reference.paper if reference else {}
    return CompareRow(
        name=name,
        family=spec.family,
        year=spec.year,
        input_size=tuple(input_size),
        depth=report.totals.depth,
        params=report.totals.params,
        macs=report.totals.macs_conv_linear,
        activation_bytes=report.totals.activation_bytes,
        receptive_field=format_field(report.final_receptive_field)[0],
        paper_params=parse_millions(paper.get("params_millions")),
        paper_mult_adds=parse_mult_adds(paper.get("mult_adds")),
        paper_imagenet=paper.get("imagenet") or "",
        paper_source=paper.get("source") or "",
    )


def compare_rows(names: Sequence[str] = ()) -> list[CompareRow]:
    """Rows for ``names`` (default: :func:`default_names`), in the order given."""
    references = {r.name: r for r in reference_models()}
    return [compare_row(n, references.get(n)) for n in (names or default_names())]


def format_difference(value: float | None) -> str:
    """A relative difference as ``"+1.1%"``; empty when the paper gives no figure."""
    return "" if value is None else f"{value:+.1%}"


def _row_dict(row: CompareRow) -> dict:
    data = dataclasses.asdict(row)
    data["params_rel_diff"] = row.params_rel_diff
    data["macs_rel_diff"] = row.macs_rel_diff
    return data


def compare_to_json(rows: Sequence[CompareRow]) -> str:
    """The rows as a JSON list."""
    return json.dumps([_row_dict(r) for r in rows], indent=1)


def compare_to_csv(rows: Sequence[CompareRow]) -> str:
    """The rows as CSV with a header line."""
    out = io.StringIO()
    fields = [f.name for f in dataclasses.fields(CompareRow)] + ["params_rel_diff", "macs_rel_diff"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(_row_dict(row))
    return out.getvalue()


def render_compare_table(rows: Sequence[CompareRow], *, width: int = 200) -> str:
    """The rows as a text table: ours, then the paper's, with relative differences."""
    table = Table(title="Evolution of depth: measured here vs. reported in the papers")
    for header, justify in (
        ("Model", "left"),
        ("Year", "right"),
        ("Input", "left"),
        ("Depth", "right"),
        ("Params", "right"),
        ("MACs", "right"),
        ("Act. mem", "right"),
        ("RF", "right"),
        ("Paper params", "right"),
        ("Δ", "right"),
        ("Paper mult-adds", "right"),
        ("Δ", "right"),
        ("Paper ImageNet (top-1/top-5 err %, 'acc' = accuracy)", "left"),
    ):
        table.add_column(header, justify=justify, overflow="fold")
    for r in rows:
        table.add_row(
            r.name,
            str(r.year),
            "x".join(map(str, r.input_size)),
            str(r.depth),
            si(r.params),
            si(r.macs),
            binary_size(r.activation_bytes),
            r.receptive_field,
            si(r.paper_params) if r.paper_params else "-",
            format_difference(r.params_rel_diff),
            si(r.paper_mult_adds) if r.paper_mult_adds else "-",
            format_difference(r.macs_rel_diff),
            r.paper_imagenet or "-",
        )
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(table)
    buffer.write(
        "Depth: weight layers on the longest path. MACs: conv+linear multiply-accumulates "
        "(FLOPs = 2 x MACs). Act. mem: float32 activations of one image. RF: receptive field of "
        "the last feature map. Δ: (ours - paper) / paper.\n"
    )
    return buffer.getvalue()
