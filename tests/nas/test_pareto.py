"""The Pareto front of validation score (up) and MACs (down)."""

from __future__ import annotations

import random

import pytest

from cnnzoo.nas.pareto import dominates, hypervolume, pareto_front


def row(number: int, score, macs) -> dict:
    return {"number": number, "score": score, "macs": macs}


def numbers(rows) -> list[int]:
    return [r["number"] for r in rows]


def test_the_front_keeps_the_undominated_fewest_macs_first():
    rows = [
        row(0, 0.70, 10),
        row(1, 0.80, 20),
        row(2, 0.75, 25),
        row(3, 0.90, 40),
        row(4, 0.60, 5),
        row(5, 0.85, 40),
    ]
    # 2 is beaten by 1 (better and cheaper); 5 by 3 (same MACs, better score).
    assert numbers(pareto_front(rows)) == [4, 0, 1, 3]


def test_ties_are_all_kept_and_unscored_rows_left_out():
    rows = [
        row(0, 0.8, 10),
        row(1, 0.8, 10),
        row(2, None, 1),
        row(3, "", 1),
        row(4, float("nan"), 1),
        row(5, 0.5, None),
    ]
    assert numbers(pareto_front(rows)) == [0, 1]
    assert pareto_front([]) == []


def test_dominance_needs_one_strict_improvement():
    assert dominates((0.9, 10), (0.8, 10)) and dominates((0.8, 9), (0.8, 10))
    assert not dominates((0.8, 10), (0.8, 10)) and not dominates((0.9, 11), (0.8, 10))


def test_random_points_every_other_row_is_beaten_by_a_front_member():
    rng = random.Random(0)
    rows = [row(i, rng.random(), rng.randrange(1, 50)) for i in range(200)]
    front = pareto_front(rows)
    point = lambda r: (r["score"], r["macs"])  # noqa: E731
    assert all(not dominates(point(a), point(b)) for a in front for b in front)
    off = [r for r in rows if r not in front]
    assert off and all(any(dominates(point(f), point(r)) for f in front) for r in off)
    macs = [r["macs"] for r in front]
    scores = [r["score"] for r in front]
    assert macs == sorted(macs) and scores == sorted(scores)  # cheaper means less accurate


def test_hypervolume_is_the_area_the_front_dominates():
    rows = [row(0, 0.5, 1), row(1, 0.7, 3), row(2, 0.6, 4)]  # 2 is dominated by 1
    # From MACs 1 to 3 the best score is 0.5, from 3 to the reference 5 it is 0.7.
    assert hypervolume(rows, ref_score=0.0, ref_macs=5) == pytest.approx(2 * 0.5 + 2 * 0.7)
    # Above a reference score of 0.6, row 0 adds nothing.
    assert hypervolume(rows, ref_score=0.6, ref_macs=5) == pytest.approx(2 * (0.7 - 0.6))
    assert hypervolume(rows, ref_score=0.0, ref_macs=2) == pytest.approx(1 * 0.5)
    assert hypervolume([], ref_score=0.0, ref_macs=5) == 0.0
    # Adding an undominated point never shrinks it.
    assert hypervolume([*rows, row(3, 0.65, 2)], 0.0, 5) > hypervolume(rows, 0.0, 5)
