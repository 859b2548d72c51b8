"""Helpers of the benchmarks: the repository root and the statistics of repeated measurements.

What every benchmark records beside its numbers (device, CPU and its flags, threads, versions,
commit) is :func:`cnnzoo.env.environment`, the same record a training run keeps in config.json.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_spread(values: list[float]) -> tuple[float, float]:
    """Median and spread (max - min) of repeated measurements."""
    return statistics.median(values), max(values) - min(values)


def closing_lines(record: dict) -> list[str]:
    """The end of a benchmark's Markdown report: the command that made it and its environment."""
    return [f"Made by `{record['command']}`.", "", *environment_lines(record["environment"])]


def environment_lines(env: dict) -> list[str]:
    """The closing "Environment:" section of a benchmark's Markdown report."""
    return ["Environment:", "", "```json", json.dumps(env, indent=2), "```", ""]
