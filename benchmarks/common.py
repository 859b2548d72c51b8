"""Helpers of the benchmarks: the repository root, the statistics of repeated measurements and
the writer of their Markdown reports.

What every benchmark records beside its numbers (device, CPU and its flags, threads, versions,
commit) is :func:`cnnzoo.env.environment`, the same record a training run keeps in config.json.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from cnnzoo.files import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
# The line above the hand-written part of a report in benchmarks/results/: it and everything
# after it survive a regeneration (see write_report).
MARKER = "<!-- analysis: written by hand, kept when this report is regenerated -->"


def median_spread(values: list[float]) -> tuple[float, float]:
    """Median and spread (max - min) of repeated measurements."""
    return statistics.median(values), max(values) - min(values)


def closing_lines(record: dict) -> list[str]:
    """The end of a benchmark's Markdown report: the command that made it and its environment."""
    return [f"Made by `{record['command']}`.", "", *environment_lines(record["environment"])]


def environment_lines(env: dict) -> list[str]:
    """The closing "Environment:" section of a benchmark's Markdown report."""
    return ["Environment:", "", "```json", json.dumps(env, indent=2), "```", ""]


def write_report(path: str | Path, generated: str) -> Path:
    """Write a benchmark's Markdown report, keeping the analysis written by hand below its numbers.

    A report is the text its script generates, optionally followed by a hand-written part that
    starts at a line that is exactly :data:`MARKER`. The new file is ``generated`` followed by
    the old file's marker line and everything after it, so re-running a benchmark refreshes the
    numbers without wiping the analysis; an old file without the marker line (or no old file) is
    replaced whole. The file is written atomically (:func:`cnnzoo.files.write_text_atomic`: a
    temporary file in the same folder renamed over it), so an error leaves the old report intact.

    Args:
        path: the report (``benchmarks/results/<name>.md``).
        generated: the text the script generates, which must not contain the marker line.

    Returns:
        ``path`` as a :class:`Path`.

    Raises:
        ValueError: ``generated`` contains the marker line.
    """
    path = Path(path)
    if MARKER in generated.splitlines():
        raise ValueError(f"the generated text of {path.name} contains the marker line {MARKER}")
    kept = ""
    if path.exists():
        old = path.read_text()
        lines = old.splitlines(keepends=True)
        start = next((i for i, line in enumerate(lines) if line.rstrip("\r\n") == MARKER), None)
        if start is not None:
            kept = "".join(lines[start:])
    if kept and not generated.endswith("\n"):
        generated += "\n"
    return write_text_atomic(path, generated + kept)
