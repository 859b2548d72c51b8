"""What every benchmark records beside its numbers: machine, threads, versions, commit."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def environment() -> dict[str, str | int]:
    """Device, threads, torch version and git commit of this run."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = "unknown"
    return {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count() or 0,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "commit": commit,
    }


def median_spread(values: list[float]) -> tuple[float, float]:
    """Median and spread (max - min) of repeated measurements."""
    return statistics.median(values), max(values) - min(values)
