"""The DATA of ``cnnzoo plot``'s charts: pure functions returning a :class:`ChartData`.

Nothing here draws; :mod:`cnnzoo.viz.draw` turns a :class:`ChartData` into a figure, so tests
check the numbers, not pixels. Paper figures come from ``cnnzoo/reference/models.json`` (free text
there, parsed by :func:`paper_top1`); our figures from the meta-device profiler.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnzoo.analysis import profile
from cnnzoo.analysis.compare import parse_mult_adds
from cnnzoo.analysis.profiler import variant_totals
from cnnzoo.reference import ilsvrc_top5_error, load_table, reference_models
from cnnzoo.registry import get_model_spec, list_models

# Models labelled on the depth chart: the milestones of the growth in depth.
NOTABLE_DEPTH = (
    "lenet5",
    "alexnet",
    "zfnet",
    "vgg19",
    "googlenet",
    "inception_v4",
    "resnet152",
    "resnet110",
    "nasnet_a_large",
    "mobilenet_v1",
    "resnext101_64x4d",
    "inception_resnet_v2",
)

HUMAN_KEY = "human"  # the ILSVRC table's entry for the human estimate (Russakovsky et al. 2015)


@dataclass(frozen=True)
class Point:
    """One plotted point.

    Args:
        label: text drawn beside it (a model name, a resolution, an ILSVRC entry).
        x, y: its coordinates; ``y=None`` for a point whose y the papers do not give.
        size: what the marker area stands for (parameters on accuracy-vs-ops), else 0.
        series: the legend entry (family, width multiplier, runtime x precision).
        ref_x: the paper's value of ``x`` where it states one (MobileNet's mult-adds).
    """

    label: str
    x: float
    y: float | None
    size: float = 0.0
    series: str = ""
    ref_x: float | None = None


@dataclass(frozen=True)
class ChartData:
    """Everything one chart shows.

    Args:
        kind: the chart's name in :data:`cnnzoo.viz.plot.CHARTS`.
        title, xlabel, ylabel: axis texts.
        points: the points (bars on ``ilsvrc``), in drawing order.
        series: the legend entries, in order.
        hlines: horizontal reference lines as ``(label, y)``.
        left_out: what was not plotted (``"lenet5"``).
        left_out_reason: why (``"no ImageNet top-1"``).
        caption: a note under the chart (sources, protocols).
    """

    kind: str
    title: str
    xlabel: str
    ylabel: str
    points: tuple[Point, ...]
    series: tuple[str, ...]
    hlines: tuple[tuple[str, float], ...] = ()
    left_out: tuple[str, ...] = ()
    left_out_reason: str = ""
    caption: str = ""

    def point(self, label: str, series: str | None = None) -> Point:
        """The point labelled ``label`` (in ``series`` if given); ``KeyError`` if none."""
        for p in self.points:
            if p.label == label and (series is None or p.series == series):
                return p
        raise KeyError(label)


# Top-1 accuracy (%) from the reference table's free text, first rule that matches wins. The
# table quotes ImageNet errors as "top-1/top-5" and marks accuracies with "acc" (its "about").
_NUMBER = r"(\d+(?:\.\d+)?)"
_TOP1_RULES: tuple[tuple[re.Pattern[str], bool], ...] = (
    (re.compile(rf"\bacc {_NUMBER}"), False),  # "acc 74.0/91.6": an accuracy
    (re.compile(rf"top-1(?:/top-5)? err {_NUMBER}"), True),  # "top-1 err 32.6": an error
    (re.compile(rf"top-1 {_NUMBER}"), True),  # "top-1 27.88 (Table 2)": an error
    (re.compile(rf"{_NUMBER}/{_NUMBER}"), True),  # "22.85/6.71": top-1/top-5 errors
    (re.compile(rf"top-1 not reported.*?\({_NUMBER}%"), False),  # GoogLeNet: MobileNet Table 8
)


def paper_top1(text: str | None) -> float | None:
    """The ImageNet top-1 accuracy (%) a reference's ``paper.imagenet`` text states, else ``None``.

    The first figure quoted is taken (the paper's own single-model figure comes first in the
    table); for AlexNet the ILSVRC-2012 figures are read, not ILSVRC-2010's; MNIST errors are no
    ImageNet figure.

    Args:
        text: e.g. ``"22.85/6.71 (Table 3, 10-crop)"``, ``"acc 70.6"``, ``"top-1 err 32.6"``.

    Returns:
        e.g. ``77.15``, ``70.6``, ``67.4``.
    """
    if not text or text.strip() == "-" or "MNIST" in text:
        return None
    text = text.split("ILSVRC-2012", 1)[-1]
    for pattern, is_error in _TOP1_RULES:
        match = pattern.search(text)
        if match:
            value = float(match.group(1))
            return round(100.0 - value, 4) if is_error else value
    return None


def paper_top1_table() -> dict[str, float]:
    """``{model name: paper top-1 accuracy %}`` for every reference row that states one."""
    rows = ((r.name, paper_top1(r.paper.get("imagenet"))) for r in reference_models())
    return {name: top1 for name, top1 in rows if top1 is not None}


@dataclass(frozen=True)
class ModelFigures:
    """The profiler's figures for one model at its standard input.

    Args:
        name, family, year: from the registry.
        macs: conv+linear multiply-accumulates for one image.
        params: parameters.
        depth: weight layers on the longest path.
    """

    name: str
    family: str
    year: int
    macs: int
    params: int
    depth: int


def model_figures(names: Iterable[str] | None = None) -> list[ModelFigures]:
    """Profile ``names`` (default: the whole zoo) on the meta device at each standard input.

    Args:
        names: registry names.

    Returns:
        One :class:`ModelFigures` per name, in order.
    """
    result = []
    for name in list_models() if names is None else names:
        spec = get_model_spec(name)
        totals = profile(name, spec.input_size).totals
        result.append(
            ModelFigures(
                name, spec.family, spec.year, totals.macs_conv_linear, totals.params, totals.depth
            )
        )
    return result


def accuracy_vs_ops(
    figures: Sequence[ModelFigures], top1: Mapping[str, float], **_: Any
) -> ChartData:
    """Canziani et al. 2017, Fig. 2: top-1 accuracy against G-MACs, bubble area = parameters.

    Args:
        figures: the zoo's profiler figures (:func:`model_figures`).
        top1: paper top-1 accuracies (:func:`paper_top1_table`).

    Returns:
        One point per model with a top-1 figure (x = G-MACs, y = top-1 %, size = parameters,
        series = family); the others in ``left_out``.
    """
    points = tuple(
        Point(f.name, f.macs / 1e9, top1[f.name], size=float(f.params), series=f.family)
        for f in figures
        if f.name in top1
    )
    return ChartData(
        kind="accuracy-vs-ops",
        title="ImageNet top-1 accuracy vs. operations (after Canziani et al. 2017, Fig. 2)",
        xlabel="G-MACs per image (conv + linear, profiler, standard input)",
        ylabel="top-1 accuracy % (paper)",
        points=points,
        series=tuple(dict.fromkeys(p.series for p in points)),
        left_out=tuple(f.name for f in figures if f.name not in top1),
        left_out_reason="no ImageNet top-1",
        caption="Top-1 as the papers quote it (single model; crops and scales differ). "
        "Bubble area proportional to parameters.",
    )


def ilsvrc(errors: Mapping[str, float], **_: Any) -> ChartData:
    """ILSVRC classification winners' top-5 error by year, and the human line.

    Args:
        errors: :func:`cnnzoo.reference.ilsvrc_top5_error`.

    Returns:
        One bar (point) per entry, x = its position, y = top-5 error %; the human estimate as a
        horizontal line.
    """
    entries = [(k, v) for k, v in errors.items() if k != HUMAN_KEY]
    points = tuple(Point(label, float(i), value) for i, (label, value) in enumerate(entries))
    hlines = ((f"human ({errors[HUMAN_KEY]}%)", errors[HUMAN_KEY]),) if HUMAN_KEY in errors else ()
    return ChartData(
        kind="ilsvrc",
        title="ILSVRC classification: top-5 error of the winners",
        xlabel="year and entry",
        ylabel="top-5 error %",
        points=points,
        series=(),
        hlines=hlines,
        caption="Human estimate: Russakovsky et al. 2015.",
    )


def depth(figures: Sequence[ModelFigures], **_: Any) -> ChartData:
    """Depth in weight layers on the longest path against the year of the paper.

    Args:
        figures: the zoo's profiler figures (:func:`model_figures`).

    Returns:
        One point per model (x = year, y = depth, series = family); the labels to draw are those
        in :data:`NOTABLE_DEPTH` (every point keeps its name as ``label``).
    """
    points = tuple(Point(f.name, float(f.year), float(f.depth), series=f.family) for f in figures)
    return ChartData(
        kind="depth",
        title="Evolution of depth",
        xlabel="year of the paper",
        ylabel="weight layers on the longest path (log)",
        points=points,
        series=tuple(dict.fromkeys(p.series for p in points)),
        caption="Depth: conv + linear layers on the longest input-output path (profiler).",
    )


def mobilenet_grid(grid: Sequence[Mapping[str, Any]], **_: Any) -> ChartData:
    """MobileNet v1's width x resolution grid: top-1 against mult-adds, one series per width.

    Args:
        grid: rows of ``mobilenet_v1_grid`` in ``models.json`` (``width_mult``, ``resolution``,
            ``paper_top1``, ``paper_mult_adds``).

    Returns:
        One point per row: x = the profiler's M-MACs (built on the meta device), y = paper top-1
        (``None`` where the paper gives none), ``ref_x`` = the paper's M mult-adds, label = the
        resolution, series = ``"width 0.75"``.
    """
    points = []
    for row in grid:
        size = int(row["resolution"])
        totals = variant_totals(
            "mobilenet_v1", (3, size, size), (("width_mult", row["width_mult"]),)
        )
        paper_macs = parse_mult_adds(row.get("paper_mult_adds"))
        points.append(
            Point(
                label=str(size),
                x=totals.macs_conv_linear / 1e6,
                y=paper_top1(row.get("paper_top1")),
                size=float(totals.params),
                series=f"width {row['width_mult']}",
                ref_x=None if paper_macs is None else paper_macs / 1e6,
            )
        )
    missing = [f"{p.series} @ {p.label}" for p in points if p.y is None]
    return ChartData(
        kind="mobilenet",
        title="MobileNet v1: width multiplier x resolution (Howard et al. 2017, Tables 6-7)",
        xlabel="M-MACs per image (profiler; x = paper's mult-adds)",
        ylabel="top-1 accuracy % (paper)",
        points=tuple(points),
        series=tuple(dict.fromkeys(p.series for p in points)),
        left_out=tuple(missing),
        left_out_reason="no paper top-1; ticks on the x axis",
        caption="Points labelled by input resolution; x marks: the paper's mult-adds.",
    )


@dataclass(frozen=True)
class BenchRow:
    """One ``status == "ok"`` result of a ``cnnzoo bench`` JSON file (the fields plotted)."""

    model: str
    runtime: str
    precision: str
    batch_size: int
    mode: str
    latency_ms: float


def read_bench(path: str | Path) -> list[BenchRow]:
    """The ``status == "ok"`` rows of a ``cnnzoo bench --format json`` file.

    Args:
        path: the JSON file (schema ``cnnzoo-bench``).

    Returns:
        Its ok rows, in order.

    Raises:
        ValueError: the file is missing, not JSON, or not a cnnzoo-bench record (one line
            naming the file).
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ValueError(f"cannot read bench file {path}: {err.strerror or err}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"bench file {path} is not JSON: {err}") from None
    if not isinstance(record, dict) or record.get("schema") != "cnnzoo-bench":
        raise ValueError(
            f"bench file {path} is not a `cnnzoo bench --format json` record "
            '(no "schema": "cnnzoo-bench")'
        )
    try:
        return [
            BenchRow(
                r["model"],
                r["runtime"],
                r["precision"],
                int(r["batch_size"]),
                r.get("mode", "infer"),
                float(r["latency_ms"]["median"]),
            )
            for r in record["results"]
            if r.get("status") == "ok"
        ]
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"bench file {path}: malformed result ({type(err).__name__}: {err})"
        ) from None


def choose_batch_size(rows: Sequence[BenchRow], batch_size: int | None) -> int:
    """``batch_size`` if given (and present), else 1 if present, else the smallest measured.

    Raises:
        ValueError: no ok row, or ``batch_size`` was not measured.
    """
    sizes = sorted({r.batch_size for r in rows})
    if not sizes:
        raise ValueError('the bench file has no result with status "ok"')
    if batch_size is None:
        return 1 if 1 in sizes else sizes[0]
    if batch_size not in sizes:
        raise ValueError(f"--batch-size {batch_size} was not measured; the file has {sizes}")
    return batch_size


def latency(
    rows: Sequence[BenchRow], top1: Mapping[str, float], *, batch_size: int | None = None, **_: Any
) -> ChartData:
    """Paper top-1 accuracy against measured median latency, one series per runtime x precision.

    Args:
        rows: ok rows of a bench file (:func:`read_bench`).
        top1: paper top-1 accuracies (:func:`paper_top1_table`).
        batch_size: the batch size to plot (:func:`choose_batch_size`).

    Returns:
        One point per (model, runtime, precision) at that batch size in inference mode (training
        rows are used only if there is no inference row); models without a top-1 in ``left_out``.

    Raises:
        ValueError: no ok row, an unmeasured ``batch_size``, or no model with a top-1.
    """
    size = choose_batch_size(rows, batch_size)
    chosen = [r for r in rows if r.batch_size == size]
    mode = "infer" if any(r.mode == "infer" for r in chosen) else chosen[0].mode
    chosen = [r for r in chosen if r.mode == mode]
    points = tuple(
        Point(r.model, r.latency_ms, top1[r.model], series=f"{r.runtime} {r.precision}")
        for r in chosen
        if r.model in top1
    )
    missing = dict.fromkeys(r.model for r in chosen if r.model not in top1)
    if not points:
        raise ValueError(
            f"nothing to plot: no measured model has a paper ImageNet top-1 "
            f"(measured: {', '.join(missing)})"
        )
    return ChartData(
        kind="latency",
        title=f"Accuracy vs. measured latency (batch {size}, {mode})",
        xlabel="median latency ms (cnnzoo bench)",
        ylabel="top-1 accuracy % (paper)",
        points=points,
        series=tuple(dict.fromkeys(p.series for p in points)),
        left_out=tuple(missing),
        left_out_reason="no ImageNet top-1",
        caption="Random-init weights timed; accuracy is the paper's.",
    )


def bench_inputs(bench: str | Path | None) -> list[BenchRow]:
    """The rows :func:`latency` needs, or a ``ValueError`` saying how to make a bench file."""
    if bench is None:
        raise ValueError(
            "plot latency needs --bench FILE.json; make one with "
            "`cnnzoo bench MODEL ... --format json --out FILE.json`"
        )
    return read_bench(bench)


def mobilenet_grid_rows() -> list[dict[str, Any]]:
    """The ``mobilenet_v1_grid`` rows of the reference table."""
    return list(load_table()["mobilenet_v1_grid"])


__all__ = [
    "BenchRow",
    "ChartData",
    "ModelFigures",
    "Point",
    "accuracy_vs_ops",
    "bench_inputs",
    "choose_batch_size",
    "depth",
    "ilsvrc",
    "ilsvrc_top5_error",
    "latency",
    "mobilenet_grid",
    "mobilenet_grid_rows",
    "model_figures",
    "paper_top1",
    "paper_top1_table",
    "read_bench",
]
