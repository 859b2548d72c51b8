"""What ``cnnzoo nas search`` shows: its progress when a candidate starts or finishes, and the
search's summary."""

from __future__ import annotations

from collections.abc import Callable

from cnnzoo.progress import Progress


def status_reporter(progress: Progress, status: Callable[[], dict]) -> Callable[[], None]:
    """A callback for the search's workers: it reads ``status()``
    (:func:`~cnnzoo.nas.study.status`) and tells ``progress``
    ``("candidates, 2 running, best 91.20%, 1.50 per minute", complete, budget)`` each time the
    count of finished or running candidates changes."""
    shown: list[tuple[int, int]] = []

    def report() -> None:
        s = status()
        if shown and shown[-1] == (s["complete"], s["running"]):
            return
        shown.append((s["complete"], s["running"]))
        best = "-" if s["best"] is None else f"{s['best']:.2%}"
        progress(
            f"candidates, {s['running']} running, best {best}, {s['per_minute']:.2f} per minute",
            s["complete"],
            s["budget"],
        )

    return report


def summary_lines(summary: dict) -> list[str]:
    """The best candidate (when one finished) and the files written."""
    lines = []
    if "best_score" in summary:
        lines.append(
            f"best of {summary['complete']} candidates: trial {summary['best_number']}, "
            f"validation top-1 {summary['best_score']:.2%}, {summary['best_macs'] / 1e6:.1f} M "
            f"MACs, {summary['best_params']:,} parameters; {summary['pareto']} on the "
            "Pareto front of validation top-1 and MACs"
        )
    found = (
        ", search_curve.png, best_genotype.json, best_cell.png/.svg, pareto.json, pareto_front.png"
    )
    lines.append(
        f"wrote {summary['out']}/search.json, history.csv{found if 'best_score' in summary else ''}"
    )
    return lines
