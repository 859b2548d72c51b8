"""The report's charts: the comparison charts of ``cnnzoo plot`` drawn from figures measured
once, the receptive-field growth of a family's networks, and a run's training curves. Every
chart is made and written as SVG by :mod:`cnnzoo.viz.figure`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from cnnzoo.analysis.report import Report
from cnnzoo.viz import charts, draw
from cnnzoo.viz.figure import new_figure, save_figure
from cnnzoo.viz.plot import render

DPI = 100
CURVE_MODELS = 8  # lines on one receptive-field chart; more would be unreadable


def index_charts(figures: Sequence[charts.ModelFigures]) -> dict[str, Figure]:
    """``cnnzoo plot``'s four zoo charts, from the figures the report already measured."""
    top1 = charts.paper_top1_table()
    return {
        "accuracy-vs-ops": render(charts.accuracy_vs_ops(figures, top1), draw.draw_accuracy_vs_ops),
        "ilsvrc": render(charts.ilsvrc(charts.ilsvrc_top5_error()), draw.draw_ilsvrc),
        "depth": render(charts.depth(figures), draw.draw_depth),
        "mobilenet": render(
            charts.mobilenet_grid(charts.mobilenet_grid_rows()), draw.draw_mobilenet
        ),
    }


def field_growth(report: Report) -> list[tuple[int, int]]:
    """``(weight layers so far, receptive-field side)`` after every weight layer whose output
    has a local field: how far one output pixel sees as the network deepens."""
    points, layers = [], 0
    for row in report.rows:
        if row.macs_conv_linear == 0:
            continue
        layers += 1
        field = row.receptive_field
        if field is not None and not field.is_global:
            points.append((layers, max(field.h.size, field.w.size)))
    return points


def field_growth_chart(title: str, reports: Sequence[Report]) -> Figure:
    """Receptive field against weight layers, one line per report (the first
    :data:`CURVE_MODELS`), with each input's side as a dotted line."""
    fig = new_figure((8.0, 4.5), dpi=DPI)
    ax = fig.add_subplot()
    for report in reports[:CURVE_MODELS]:
        points = field_growth(report)
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker=".", markersize=3, linewidth=1.2, label=report.model)
    for side in sorted({r.input_size[1] for r in reports[:CURVE_MODELS]}):
        ax.axhline(side, color="grey", linestyle=":", linewidth=1)
        ax.annotate(
            f"input {side} px",
            (1, side),
            fontsize=7,
            color="grey",
            xytext=(2, 2),
            textcoords="offset points",
        )
    ax.set_yscale("log")
    ax.set_xlabel("weight layers so far (execution order)")
    ax.set_ylabel("receptive field side, input pixels (log)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncols=2)
    return fig


def training_curves(title: str, epochs: Sequence[dict]) -> Figure:
    """Loss and top-1 per epoch of a run's ``metrics.csv`` rows, train and test."""
    fig = new_figure((9.0, 3.6), dpi=DPI)
    loss, top1 = fig.subplots(1, 2)
    x = [int(r["epoch"]) for r in epochs]
    for split, style in (("train", "-"), ("test", "--")):
        loss.plot(x, [float(r[f"{split}_loss"]) for r in epochs], style, marker=".", label=split)
        top1.plot(
            x, [100 * float(r[f"{split}_top1"]) for r in epochs], style, marker=".", label=split
        )
    loss.set_ylabel("loss")
    top1.set_ylabel("top-1 %")
    for ax in (loss, top1):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return fig


def save_svg(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as SVG (atomically)."""
    return save_figure(fig, path.with_suffix(".svg"))
