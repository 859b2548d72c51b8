"""``nas search``'s progress: the search's status told through the progress protocol each time the
count of finished or running candidates changes, in the line ``nas search`` has always shown."""

from __future__ import annotations

from cnnzoo.nas.render import status_reporter
from cnnzoo.progress import line_progress


def test_status_is_told_when_finished_or_running_counts_change():
    statuses = iter(
        [
            {"complete": 0, "budget": 3, "running": 1, "best": None, "per_minute": 0.0},
            {"complete": 0, "budget": 3, "running": 1, "best": None, "per_minute": 0.0},
            {"complete": 1, "budget": 3, "running": 1, "best": 0.912, "per_minute": 1.5},
            {"complete": 1, "budget": 3, "running": 1, "best": 0.912, "per_minute": 1.2},
            {"complete": 3, "budget": 3, "running": 0, "best": 0.93, "per_minute": 2.0},
        ]
    )
    lines: list[str] = []
    report = status_reporter(line_progress("nas search", lines.append), lambda: next(statuses))
    for _ in range(5):
        report()
    assert lines == [
        "nas search: 0/3 candidates, 1 running, best -, 0.00 per minute",
        "nas search: 1/3 candidates, 1 running, best 91.20%, 1.50 per minute",
        "nas search: 3/3 candidates, 0 running, best 93.00%, 2.00 per minute",
    ]
