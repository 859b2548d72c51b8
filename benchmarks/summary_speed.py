"""How long `cnnzoo summary MODEL` takes for every model of the zoo.

Two figures per model: the wall time of the command as a user runs it (a fresh process: Python
start, imports, building the model on the meta device, profiling, rendering), once; and the
in-process time of `profile()` alone, median of 5 runs after one discarded warm-up.

Run: .venv/bin/python benchmarks/summary_speed.py  (writes benchmarks/results/summary_speed.md)
"""

from __future__ import annotations

import subprocess
import sys
import time

from common import ROOT, median_spread, write_report

import cnnzoo
from cnnzoo.analysis import profile
from cnnzoo.env import environment

LIMIT_S = 5.0  # the report counts the commands under this; exit 1 if one is not
REPEATS = 5


def command_seconds(name: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cnnzoo", "summary", name],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def profile_seconds(name: str) -> tuple[float, float]:
    profile(name)  # warm-up, discarded
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        profile(name)
        times.append(time.perf_counter() - start)
    return median_spread(times)


def under_limit(rows: list[tuple]) -> str:
    """How many models' ``cnnzoo summary`` commands took under :data:`LIMIT_S`."""
    under = sum(r[1] < LIMIT_S for r in rows)
    if under == len(rows):
        return f"every model's command takes under {LIMIT_S:g} s"
    return f"{under} of {len(rows)} models' commands take under {LIMIT_S:g} s"


def main() -> int:
    rows = []
    for name in cnnzoo.list_models():
        wall = command_seconds(name)
        median, spread = profile_seconds(name)
        rows.append((name, wall, median, spread))
        print(f"{name:24s} command {wall:5.2f} s   profile {median:.3f} s (±{spread:.3f})")
    env = environment("cpu")
    worst = max(rows, key=lambda r: r[1])
    lines = [
        "# `cnnzoo summary` speed",
        "",
        "Command: `.venv/bin/python benchmarks/summary_speed.py`",
        "",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()),
        "",
        f"Slowest command: {worst[0]} in {worst[1]:.2f} s; {under_limit(rows)}.",
        "",
        "| model | `cnnzoo summary` wall time (s, fresh process) "
        f"| `profile()` median of {REPEATS} (s) | spread (s) |",
        "|---|---:|---:|---:|",
        *(f"| {n} | {w:.2f} | {m:.3f} | {s:.3f} |" for n, w, m, s in rows),
    ]
    out = ROOT / "benchmarks" / "results" / "summary_speed.md"
    write_report(out, "\n".join(lines) + "\n")
    print(f"written to {out}")
    return 0 if all(r[1] < LIMIT_S for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
