"""Helpers of the training tests: the fake MNIST (``tests/fakedata.py``) and subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fakedata import fake_digits, write_fake_mnist  # noqa: F401 (re-exported for the tests)


def cli_env() -> dict[str, str]:
    """Environment of the command-line subprocesses: one thread each (2 cores), no colour."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TERM="dumb")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def train_command(*args: str) -> list[str]:
    """``python -m cnnzoo train ARGS``."""
    return [sys.executable, "-m", "cnnzoo", "train", *args]


def run_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        train_command(*args),
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
