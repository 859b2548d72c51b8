"""How long `cnnzoo report` takes to write the whole zoo's site (no inputs): the wall time of the
command as a user runs it (a fresh process), median of 3 runs into a fresh folder each time.

Run: .venv/bin/python benchmarks/report_speed.py  (writes benchmarks/results/report_speed.md)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, median_spread, write_report

from cnnzoo.env import environment

REPEATS = 3


def report_seconds(out: Path) -> float:
    """Wall time of one ``cnnzoo report --out out`` in a fresh process."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cnnzoo", "report", "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        times = [report_seconds(Path(tmp) / f"site{i}") for i in range(REPEATS)]
    median, spread = median_spread(times)
    env = environment("cpu")
    lines = [
        "# `cnnzoo report` speed",
        "",
        "Command: `.venv/bin/python benchmarks/report_speed.py`",
        "",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()),
        "",
        f"The whole zoo's site (every family page, the charts, the calculations; no inputs) is "
        f"written in {median:.1f} s (median of {REPEATS} fresh processes, spread {spread:.1f} s).",
        "",
        "| run | wall time (s) |",
        "|---:|---:|",
        *(f"| {i + 1} | {t:.1f} |" for i, t in enumerate(times)),
    ]
    out = ROOT / "benchmarks" / "results" / "report_speed.md"
    write_report(out, "\n".join(lines) + "\n")
    print(f"written to {out}: {median:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
