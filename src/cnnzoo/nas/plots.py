"""Pictures of a search: the best-so-far curve of each strategy, and its candidates' accuracy
against MACs with the Pareto front (:func:`~cnnzoo.nas.pareto.pareto_front`).

The curves are pure data (:func:`search_curve`); figures are made and written by
:mod:`cnnzoo.viz.figure` (Agg canvas, no pyplot; atomically, SVG text kept as text). The searched
cells are drawn by :mod:`cnnzoo.nas.draw`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cnnzoo.viz.figure import new_figure, save_figure

DPI = 150
SEARCH_CURVE_SIZE = (8.0, 5.0)  # inches


# --- search curve ---------------------------------------------------------------------------


def _score(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _best_so_far(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[int, list]]:
    """strategy -> seed -> [(index, best score so far)], strategies and seeds in first-seen
    order; indices before the first scored candidate have no point."""
    scores: dict[str, dict[int, list[tuple[int, float | None]]]] = {}
    for r in rows:
        seeds = scores.setdefault(str(r["strategy"]), {})
        seeds.setdefault(int(r["seed"]), []).append((int(r["index"]), _score(r["score"])))
    curves: dict[str, dict[int, list]] = {}
    for strategy, seeds in scores.items():
        for seed, points in seeds.items():
            best, curve = None, []
            for index, score in sorted(points, key=lambda p: p[0]):
                if score is not None and (best is None or score > best):
                    best = score
                if best is not None:
                    curve.append((index, best))
            curves.setdefault(strategy, {})[seed] = curve
    return curves


def search_curve(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Best score so far per search, against candidates evaluated.

    Args:
        rows: one per candidate, with ``strategy``, ``seed`` (int), ``index`` (1-based order
            within its search) and ``score`` (validation accuracy; ``None`` or NaN if it failed).

    Returns:
        ``{key: [(index, best so far), ...]}`` in index order, non-decreasing; the key is the
        strategy, or ``"<strategy> seed <S>"`` where the strategy ran with several seeds. A failed
        candidate repeats the best before it; candidates before the first scored one have no
        point (a search with no scored candidate has an empty list).
    """
    out: dict[str, list[tuple[int, float]]] = {}
    for strategy, seeds in _best_so_far(rows).items():
        for seed, curve in seeds.items():
            out[strategy if len(seeds) == 1 else f"{strategy} seed {seed}"] = curve
    return out


def _median_curve(curves: Iterable[list[tuple[int, float]]]) -> list[tuple[int, float]]:
    """Per index, the median best-so-far over the searches that reached that index."""
    at: dict[int, list[float]] = {}
    for curve in curves:
        for index, value in curve:
            at.setdefault(index, []).append(value)
    return [(i, statistics.median(at[i])) for i in sorted(at)]


def save_search_curve(
    path: str | Path, rows: Iterable[Mapping[str, Any]], *, title: str | None = None
) -> Path:
    """Plot best validation accuracy so far against candidates evaluated.

    One colour per strategy; a strategy run with several seeds is drawn as thin lines (one per
    seed) and a bold median line. Scores are read as fractions when none exceeds 1, else as
    percentages; the y axis is labelled in percent either way.

    Args:
        path: the file to write; PNG, or SVG (any format matplotlib knows) by its suffix.
        rows: as for :func:`search_curve`.
        title: the axes title (default ``"search: best validation accuracy so far"``).

    Returns:
        ``path`` as a :class:`Path`.
    """
    from matplotlib.ticker import MaxNLocator

    curves = _best_so_far(rows)
    values = [v for seeds in curves.values() for c in seeds.values() for _, v in c]
    fig, ax, cmap = _strategy_figure(len(curves))
    for i, (strategy, seeds) in enumerate(curves.items()):
        colour = cmap(i % cmap.N)
        if len(seeds) == 1:
            (curve,) = seeds.values()
            ax.step(*_xy(curve), where="post", color=colour, linewidth=2.0, label=strategy)
            continue
        for curve in seeds.values():
            ax.step(*_xy(curve), where="post", color=colour, linewidth=0.8, alpha=0.45)
        label = f"{strategy} (median of {len(seeds)} seeds)"
        median = _median_curve(seeds.values())
        ax.step(*_xy(median), where="post", color=colour, linewidth=2.4, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _label_accuracy_axes(
        ax,
        values,
        "candidates evaluated",
        "best validation accuracy so far",
        title or "search: best validation accuracy so far",
    )
    return save_figure(fig, path, svg_text=True)


def _strategy_figure(strategies: int):
    """A bare figure with one axes for the search pictures, and a colour map of enough colours
    for ``strategies``."""
    from matplotlib import colormaps

    fig = new_figure(SEARCH_CURVE_SIZE, dpi=DPI)
    return fig, fig.add_subplot(), colormaps["tab10" if strategies <= 10 else "tab20"]


def _label_accuracy_axes(ax, scores: list[float], xlabel: str, ylabel: str, title: str) -> None:
    """Percent on y (scores are fractions when none exceeds 1), labels, title, grid, and the
    legend when anything is labelled."""
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0 if max(scores, default=0) <= 1 else 100))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(loc="lower right", fontsize=8)


def _xy(curve: list[tuple[int, float]]) -> tuple[list[int], list[float]]:
    return [i for i, _ in curve], [v for _, v in curve]


# --- Pareto front ---------------------------------------------------------------------------


def save_pareto_front(
    path: str | Path, rows: Iterable[Mapping[str, Any]], *, title: str | None = None
) -> Path:
    """Plot every candidate's validation accuracy against its MACs, with each strategy's Pareto
    front (:func:`~cnnzoo.nas.pareto.pareto_front`) as a line through its members.

    Args:
        path: the file to write (format by suffix).
        rows: one per candidate, with ``strategy``, ``score`` and ``macs``; the seeds of a
            strategy are pooled into one front.
        title: the axes title (default ``"search: validation accuracy against MACs"``).

    Returns:
        ``path`` as a :class:`Path`.
    """
    from cnnzoo.nas.pareto import pareto_front

    by_strategy: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        if _score(row.get("score")) is not None and row.get("macs") not in (None, ""):
            by_strategy.setdefault(str(row["strategy"]), []).append(row)
    scores = [float(r["score"]) for group in by_strategy.values() for r in group]
    fig, ax, cmap = _strategy_figure(len(by_strategy))
    for i, (strategy, group) in enumerate(by_strategy.items()):
        colour = cmap(i % cmap.N)
        ax.scatter(
            [float(r["macs"]) / 1e6 for r in group],
            [float(r["score"]) for r in group],
            s=12,
            color=colour,
            alpha=0.35,
            linewidths=0,
        )
        front = pareto_front(group)
        ax.step(
            [float(r["macs"]) / 1e6 for r in front],
            [float(r["score"]) for r in front],
            where="post",
            color=colour,
            linewidth=1.8,
            marker="o",
            markersize=4,
            label=f"{strategy}: {len(front)} on the front of {len(group)}",
        )
    _label_accuracy_axes(
        ax,
        scores,
        "MACs of one image (millions)",
        "validation accuracy",
        title or "search: validation accuracy against MACs",
    )
    return save_figure(fig, path, svg_text=True)
