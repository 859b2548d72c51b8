"""Drawing ``cnnzoo plot``'s charts: one function per chart, ``(ChartData, Figure) -> None``.

Each draws on a bare ``matplotlib.figure.Figure`` (Agg canvas, no pyplot, no display); the numbers
come from :mod:`cnnzoo.viz.charts`.
"""

from __future__ import annotations

import math

from matplotlib.figure import Figure

from cnnzoo.viz.charts import NOTABLE_DEPTH, ChartData

BUBBLE_LEGEND_PARAMS = (5e6, 25e6, 100e6)  # parameters shown in the size legend
BUBBLE_AREA_PER_PARAM = 600 / 100e6  # points^2 of marker area per parameter (100 M -> 600)
CAPTION_CHARS_PER_INCH = 15  # caption wrap width at 7-point text
LABEL_OFFSETS = (  # (dx, dy) in points, alignment: tried in order around a point
    (0, 5, "center", "bottom"),
    (6, 0, "left", "center"),
    (-6, 0, "right", "center"),
    (0, -6, "center", "top"),
    (6, 6, "left", "bottom"),
    (-6, 6, "right", "bottom"),
    (6, -6, "left", "top"),
    (-6, -6, "right", "top"),
    (0, 14, "center", "bottom"),
    (0, -15, "center", "top"),
    (12, 12, "left", "bottom"),
    (-12, -12, "right", "top"),
)


def _colours(series: tuple[str, ...]) -> dict[str, object]:
    """A distinct colour per series (tab10, then tab20 for more than 10)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(series) <= 10 else "tab20"]
    return {s: cmap(i % cmap.N) for i, s in enumerate(series)}


def _finish(data: ChartData, fig: Figure, ax) -> None:
    """Title, axis labels and the caption (plus what was left out) under the axes."""
    ax.set_title(data.title)
    ax.set_xlabel(data.xlabel)
    ax.set_ylabel(data.ylabel)
    ax.grid(True, alpha=0.3, which="both")
    note = data.caption
    if data.left_out:
        note += f" Left out ({data.left_out_reason}): {', '.join(data.left_out)}."
    if note:
        import textwrap

        width = int(fig.get_figwidth() * CAPTION_CHARS_PER_INCH)
        ax.annotate(
            textwrap.fill(note, width),
            xy=(0, 0),
            xycoords="axes fraction",
            xytext=(-40, -38),
            textcoords="offset points",
            fontsize=7,
            va="top",
            ha="left",
            color="0.3",
            annotation_clip=False,
        )


def _plain_log_ticks(axis, minor_digits: str = "25") -> None:
    """Log-axis tick labels as plain numbers (``0.5``, ``20``) instead of powers of ten; minor
    ticks labelled where their leading digit is in ``minor_digits``."""
    from matplotlib.ticker import FuncFormatter

    def minor(value: float, _) -> str:
        return f"{value:g}" if f"{value:e}"[0] in minor_digits else ""

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(minor))


def _overlap(a, b) -> float:
    """Area shared by two display-space boxes."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0) * max(h, 0)


def label_points(fig: Figure, ax, items, *, fontsize: float = 7.0) -> None:
    """Label points without overlaps where possible: points at the same spot share one label;
    each label takes the first offset around its point that overlaps no label placed before
    (else the least overlapping one).

    Args:
        fig, ax: the figure (laid out once here) and its axes.
        items: ``(text, x, y)`` in data coordinates.
        fontsize: label size in points.
    """
    merged: dict[tuple[float, float], list[str]] = {}
    for text, x, y in items:
        merged.setdefault((x, y), []).append(text)
    fig.draw_without_rendering()  # apply the layout, so display positions are final
    renderer = fig.canvas.get_renderer()
    placed = []
    for (x, y), texts in sorted(merged.items(), key=lambda kv: -kv[0][1]):
        best = None
        for dx, dy, ha, va in LABEL_OFFSETS:
            note = ax.annotate(
                " / ".join(texts),
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=fontsize,
                ha=ha,
                va=va,
            )
            box = note.get_window_extent(renderer)
            cost = sum(_overlap(box, other) for other in placed)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, note, box)
            else:
                note.remove()
            if cost == 0:
                break
        placed.append(best[2])


def draw_accuracy_vs_ops(data: ChartData, fig: Figure) -> None:
    """Bubbles: log G-MACs vs top-1, area = parameters, colour = family, a size legend."""
    ax = fig.add_subplot()
    colours = _colours(data.series)
    for series in data.series:
        pts = [p for p in data.points if p.series == series]
        ax.scatter(
            [p.x for p in pts],
            [p.y for p in pts],
            s=[p.size * BUBBLE_AREA_PER_PARAM for p in pts],
            color=colours[series],
            alpha=0.55,
            edgecolors="black",
            linewidths=0.5,
            label=series,
        )
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis)
    ax.margins(x=0.08, y=0.08)
    if data.series:  # no legend of families when no model has a top-1 to plot
        family_legend = ax.legend(
            title="family", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8
        )
        for handle in family_legend.legend_handles:
            handle.set_sizes([40])
        ax.add_artist(family_legend)
    handles = [
        ax.scatter(
            [],
            [],
            s=n * BUBBLE_AREA_PER_PARAM,
            color="0.7",
            edgecolors="black",
            linewidths=0.5,
            label=f"{n / 1e6:g} M",
        )
        for n in BUBBLE_LEGEND_PARAMS
    ]
    ax.legend(
        handles=handles,
        title="parameters",
        loc="lower left",
        bbox_to_anchor=(1.01, 0.0),
        labelspacing=1.6,
        borderpad=1.0,
        fontsize=8,
    )
    _finish(data, fig, ax)
    label_points(fig, ax, [(p.label, p.x, p.y) for p in data.points], fontsize=7)


def draw_ilsvrc(data: ChartData, fig: Figure) -> None:
    """Bars of top-5 error per entry, values on top, the human line dashed."""
    ax = fig.add_subplot()
    bars = ax.bar([p.x for p in data.points], [p.y for p in data.points], color="tab:blue")
    ax.bar_label(bars, fmt="%g", fontsize=8, padding=2)
    ax.set_xticks(
        [p.x for p in data.points], [p.label.replace(" ", "\n", 1) for p in data.points], fontsize=8
    )
    for label, y in data.hlines:
        ax.axhline(y, color="tab:red", linestyle="--", linewidth=1.2)
        ax.text(
            len(data.points) - 0.5,
            y,
            f" {label}",
            color="tab:red",
            va="bottom",
            ha="right",
            fontsize=9,
        )
    ax.set_ylim(0, max(p.y for p in data.points) * 1.12)
    _finish(data, fig, ax)
    ax.grid(False, axis="x")


def draw_depth(data: ChartData, fig: Figure) -> None:
    """Year vs depth (log y), colour = family, labels on the notable models."""
    ax = fig.add_subplot()
    colours = _colours(data.series)
    for series in data.series:
        pts = [p for p in data.points if p.series == series]
        ax.scatter(
            [p.x for p in pts],
            [p.y for p in pts],
            color=colours[series],
            s=30,
            alpha=0.8,
            edgecolors="black",
            linewidths=0.4,
            label=series,
        )
    ax.set_yscale("log")
    _plain_log_ticks(ax.yaxis)
    years = [p.x for p in data.points]
    ax.set_xlim(min(years) - 1, max(years) + 2.5)
    ax.set_xticks(range(int(min(years)), int(max(years)) + 1, 2))
    ax.legend(title="family", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    _finish(data, fig, ax)
    notable = [(p.label, p.x, p.y) for p in data.points if p.label in NOTABLE_DEPTH]
    label_points(fig, ax, notable, fontsize=8)


def draw_mobilenet(data: ChartData, fig: Figure) -> None:
    """A line per width multiplier through its points (log x), labelled by resolution; rows the
    paper gives no accuracy for are ticks on the x axis; the paper's mult-adds as small x marks."""
    ax = fig.add_subplot()
    colours = _colours(data.series)
    for series in data.series:
        pts = sorted((p for p in data.points if p.series == series), key=lambda p: p.x)
        known = [p for p in pts if p.y is not None]
        ax.plot(
            [p.x for p in known], [p.y for p in known], "o-", color=colours[series], label=series
        )
        ax.plot(
            [p.ref_x for p in known if p.ref_x],
            [p.y for p in known if p.ref_x],
            "x",
            color="black",
            markersize=5,
        )
        for p in known:
            ax.annotate(
                p.label, (p.x, p.y), xytext=(4, -10), textcoords="offset points", fontsize=7
            )
        ax.plot(
            [p.x for p in pts if p.y is None],
            [0.0] * sum(p.y is None for p in pts),
            "|",
            color=colours[series],
            markersize=12,
            markeredgewidth=2,
            transform=ax.get_xaxis_transform(),
        )
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis)
    ys = [p.y for p in data.points if p.y is not None]
    ax.set_ylim(math.floor(min(ys) - 3), math.ceil(max(ys) + 2))
    ax.plot([], [], "x", color="black", label="paper mult-adds")
    ax.legend(loc="lower right", fontsize=8)
    _finish(data, fig, ax)


def draw_latency(data: ChartData, fig: Figure) -> None:
    """Latency (log x) vs top-1, one marker and colour per runtime x precision."""
    ax = fig.add_subplot()
    colours = _colours(data.series)
    markers = "osD^v<>Ph*X"
    for i, series in enumerate(data.series):
        pts = [p for p in data.points if p.series == series]
        ax.scatter(
            [p.x for p in pts],
            [p.y for p in pts],
            color=colours[series],
            s=50,
            marker=markers[i % len(markers)],
            alpha=0.85,
            edgecolors="black",
            linewidths=0.4,
            label=series,
        )
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis, minor_digits="23456789")
    ax.margins(x=0.15, y=0.15)
    ax.legend(title="runtime precision", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    _finish(data, fig, ax)
    fastest = {}
    for p in sorted(data.points, key=lambda p: -p.x):
        fastest[p.label] = p
    label_points(fig, ax, [(p.label, p.x, p.y) for p in fastest.values()], fontsize=8)
