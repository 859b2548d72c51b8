"""The Pareto front of a search: the candidates no other candidate beats on both validation
score (higher is better) and MACs (fewer is better); and ``pareto.json``, its file.

``pareto.json`` is a list, cheapest first, of ``{"number", "score", "macs", "params",
"genotype"}``; ``cnnzoo nas show`` and ``nas train`` take it with ``--trial N``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cnnzoo.models.genotype import Genotype, read_genotype_file

FRONT_FIELDS = ("number", "score", "macs", "params")  # with the genotype, a pareto.json entry


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


def front_entries(rows: Iterable[Mapping[str, Any]]) -> list[dict]:
    """``pareto.json``'s entries for history rows (``genotype`` as compact JSON text)."""
    return [
        {key: row[key] for key in FRONT_FIELDS} | {"genotype": json.loads(row["genotype"])}
        for row in pareto_front(rows)
    ]


def genotype_from_file(path: str | Path, trial: int | None = None) -> Genotype:
    """The genotype of a genotype JSON file, or of trial ``trial`` of a ``pareto.json``.

    Raises:
        ValueError: one line naming the file: unreadable or malformed, a ``pareto.json``
            without ``trial`` or without that trial (the message lists the front's trials), or
            ``trial`` given for a single genotype.
    """
    text = read_genotype_file(path)
    try:
        data = json.loads(text)
    except ValueError:
        data = None  # Genotype.from_file words the error
    if not isinstance(data, list):
        if trial is not None:
            raise ValueError(f"--trial is for a pareto.json; {str(path)!r} is one genotype")
        return Genotype.from_file(path)
    numbers = [entry.get("number") for entry in data if isinstance(entry, dict)]
    if trial not in numbers:
        wanted = "give --trial" if trial is None else f"it has no trial {trial}"
        raise ValueError(
            f"{str(path)!r} is a Pareto front: {wanted} (its trials: "
            f"{', '.join(map(str, numbers)) or 'none'})"
        )
    entry = data[numbers.index(trial)]
    try:
        return Genotype.from_dict(entry.get("genotype"))
    except ValueError as err:
        raise ValueError(f"{str(path)!r}, trial {trial}: {err}") from None
