"""Helpers of the tests of owned output folders (``cnnzoo.outdir``)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def files_of(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder`` by relative path, links left out."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def signal_while_staged(args: list[str], folder: Path, signum: int) -> tuple[int, str]:
    """Run ``python -m cnnzoo ARGS``, send ``signum`` once it builds ``folder``'s replacement
    (its staging folder exists), and return its exit code and standard error."""
    child = subprocess.Popen(
        [sys.executable, "-m", "cnnzoo", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(folder.parent.glob(f".{folder.name}.staging-*")) and child.poll() is None:
        assert time.monotonic() < deadline, f"{args[0]} never started its staging folder"
        time.sleep(0.02)
    child.send_signal(signum)
    _, err = child.communicate(timeout=120)
    return child.returncode, err
