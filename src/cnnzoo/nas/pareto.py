"""The Pareto front of a search: the candidates no other candidate beats on both validation
score (higher is better) and MACs (fewer is better), and its hypervolume. Its file,
``pareto.json``, is :mod:`cnnzoo.nas.outputs`'.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any


def _point(row: Mapping[str, Any]) -> tuple[float, float] | None:
    """``(score, macs)`` of a scored candidate, else ``None``."""
    score, macs = row.get("score"), row.get("macs")
    if score in (None, "") or macs in (None, ""):
        return None
    score, macs = float(score), float(macs)
    return None if math.isnan(score) or math.isnan(macs) else (score, macs)


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether ``(score, macs)`` ``a`` is at least as good as ``b`` on both and better on one."""
    return a[0] >= b[0] and a[1] <= b[1] and a != b


def pareto_front(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The non-dominated rows among those with a score and MACs, fewest MACs first (ties: the
    higher score, then input order); rows with equal score and MACs are all kept."""
    scored = [(row, p) for row in rows if (p := _point(row)) is not None]
    front = [(row, p) for row, p in scored if not any(dominates(q, p) for _, q in scored)]
    return [row for row, _ in sorted(front, key=lambda rp: (rp[1][1], -rp[1][0]))]


def hypervolume(rows: Iterable[Mapping[str, Any]], ref_score: float, ref_macs: float) -> float:
    """The area of (MACs, score) space the rows' front dominates, bounded by the reference point
    ``(ref_score, ref_macs)``: a front's quality in one number (larger is better; fronts are
    comparable only against the same reference). Points below ``ref_score`` or above
    ``ref_macs`` add nothing."""
    front = [p for row in pareto_front(rows) if (p := _point(row))]
    front = [(s, m) for s, m in front if s > ref_score and m < ref_macs]
    area = 0.0
    for i, (score, macs) in enumerate(front):  # fewest MACs first, so scores rise
        right = front[i + 1][1] if i + 1 < len(front) else ref_macs
        area += (right - macs) * (score - ref_score)
    return area
