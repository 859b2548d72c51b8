"""``cnnzoo plot KIND``: a chart name -> (data function, draw function) table and the writer.

A data function takes the :class:`PlotConfig` and returns a :class:`~cnnzoo.viz.charts.ChartData`
(profiling and reading files happen there); a draw function puts it on a figure. Figures are made
and written by :mod:`cnnzoo.viz.figure` (atomically, in the format of their suffix).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from cnnzoo.options import option
from cnnzoo.viz import charts, draw
from cnnzoo.viz.figure import new_figure, save_figure

SUFFIXES = ("png", "svg")
FIGURE_SIZES = {  # inches, per chart
    "accuracy-vs-ops": (13.0, 8.0),
    "ilsvrc": (10.0, 5.5),
    "depth": (11.0, 6.5),
    "mobilenet": (9.0, 6.0),
    "latency": (10.0, 6.0),
}
DPI = 120


@dataclass(frozen=True)
class PlotConfig:
    """``cnnzoo plot``'s flags.

    Args:
        kind: a key of :data:`CHARTS`.
        out: the file to write (``.png`` or ``.svg``); default ``KIND.png``.
        bench: a ``cnnzoo bench --format json`` file (``latency`` only).
        batch_size: the bench batch size to plot (default: 1 if measured, else the smallest).
        format: comma-separated suffixes to write at once (``"png,svg"``), replacing ``out``'s.
    """

    kind: str = option(help="the chart", choices="cnnzoo.viz.plot:CHARTS")
    out: str | None = option(None, help="FILE.png or FILE.svg", default_help="KIND.png")
    bench: str | None = option(
        None,
        help="latency: a `cnnzoo bench --format json` file",
        metavar="FILE.json",
        default_help="none",
    )
    batch_size: int | None = option(
        None, help="latency: batch size to plot", default_help="1, else the smallest"
    )
    format: str | None = option(
        None,
        help="write several formats at once, e.g. png,svg",
        default_help="the suffix of --out",
    )


CHARTS: dict[str, tuple[Callable[[PlotConfig], charts.ChartData], Callable]] = {
    "accuracy-vs-ops": (
        lambda c: charts.accuracy_vs_ops(charts.model_figures(), charts.paper_top1_table()),
        draw.draw_accuracy_vs_ops,
    ),
    "ilsvrc": (lambda c: charts.ilsvrc(charts.ilsvrc_top5_error()), draw.draw_ilsvrc),
    "depth": (lambda c: charts.depth(charts.model_figures()), draw.draw_depth),
    "mobilenet": (
        lambda c: charts.mobilenet_grid(charts.mobilenet_grid_rows()),
        draw.draw_mobilenet,
    ),
    "latency": (
        lambda c: charts.latency(
            charts.bench_inputs(c.bench), charts.paper_top1_table(), batch_size=c.batch_size
        ),
        draw.draw_latency,
    ),
}


def output_paths(config: PlotConfig) -> list[Path]:
    """The files to write: ``out`` (default ``KIND.png``), or its stem with each ``format``.

    Raises:
        ValueError: a suffix other than .png / .svg.
    """
    out = Path(config.out or f"{config.kind}.png")
    if config.format:
        suffixes = [s.strip().lstrip(".").lower() for s in config.format.split(",") if s.strip()]
        paths = [out.with_suffix(f".{s}") for s in suffixes]
    else:
        paths = [out]
    for path in paths:
        if path.suffix.lstrip(".").lower() not in SUFFIXES:
            raise ValueError(
                f"cannot write {str(path)!r}: the chart file must end in .png or "
                ".svg (or pass --format png,svg)"
            )
    return paths


def render(data: charts.ChartData, draw_fn: Callable) -> Figure:
    """A new figure (:func:`~cnnzoo.viz.figure.new_figure`) with ``data`` drawn by ``draw_fn``."""
    fig = new_figure(FIGURE_SIZES.get(data.kind, (10.0, 6.0)), dpi=DPI)
    draw_fn(data, fig)
    fig.get_layout_engine().set(h_pad=0.25)
    return fig


def plot(config: PlotConfig) -> tuple[charts.ChartData, list[Path]]:
    """Compute, draw and write the chart ``config`` asks for.

    Args:
        config: the flags.

    Returns:
        The chart's data and the paths written.

    Raises:
        ValueError: unknown kind, bad suffix, missing or malformed bench file.
    """
    if config.kind not in CHARTS:
        raise ValueError(f"unknown chart {config.kind!r}; choose from {', '.join(CHARTS)}")
    paths = output_paths(config)  # before the work: a bad suffix fails fast
    data_fn, draw_fn = CHARTS[config.kind]
    data = data_fn(config)
    fig = render(data, draw_fn)
    return data, [save_figure(fig, p) for p in paths]


def plot_lines(config: PlotConfig, warn: Callable[[str], None]) -> list[str]:
    """Write the chart of ``config``; ``warn`` gets a line naming what was left out of it.

    Returns:
        The paths written, one per line.
    """
    data, paths = plot(config)
    if data.left_out:
        warn(f"left out ({data.left_out_reason}): {', '.join(data.left_out)}")
    return [str(path) for path in paths]
