"""How long `cnnzoo report` takes to write the whole zoo's site (no inputs): the wall time of the
command as a user runs it (a fresh process), median of 3 runs into a fresh folder each time.
With ``--baseline SRC`` (another checkout's ``src/`` folder, e.g. a ``git worktree`` of the
previous commit) the same command from that code runs interleaved with this one, round by round,
and the report gives the ratio.

Run: .venv/bin/python benchmarks/report_speed.py [--baseline /tmp/base/src]
     (writes benchmarks/results/report_speed.md)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, median_spread, write_report

from cnnzoo.env import environment

REPEATS = 3


def report_seconds(out: Path, src: Path) -> float:
    """Wall time of one ``cnnzoo report --out out`` in a fresh process, importing from ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cnnzoo", "report", "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    return time.perf_counter() - start


def site_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout's src/ to time beside")
    args = parser.parse_args()
    codes = {"this": ROOT / "src"} | ({"baseline": args.baseline} if args.baseline else {})
    times: dict[str, list[float]] = {k: [] for k in codes}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(REPEATS):
            for key, src in codes.items():  # interleaved: both see the same machine state
                site = Path(tmp) / f"{key}{i}"
                times[key].append(report_seconds(site, src))
                sizes[key] = site_bytes(site)
    env = environment("cpu")
    median, spread = median_spread(times["this"])
    lines = [
        "# `cnnzoo report` speed",
        "",
        f"Command: `.venv/bin/python benchmarks/report_speed.py"
        f"{' --baseline BASE/src' if args.baseline else ''}`",
        "",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()),
        "",
        f"The whole zoo's site (every family page with its diagrams, the charts, the "
        f"calculations; no inputs) is written in {median:.1f} s (median of {REPEATS} fresh "
        f"processes, spread {spread:.1f} s); the site holds {sizes['this'] / 2**20:.1f} MiB.",
    ]
    if args.baseline:
        base, _ = median_spread(times["baseline"])
        lines += [
            "",
            f"Baseline (`{args.baseline}`, interleaved round by round): {base:.1f} s, "
            f"{sizes['baseline'] / 2**20:.1f} MiB; this code takes {median / base:.2f}x its time.",
        ]
    lines += ["", "| run | " + " | ".join(f"{k} (s)" for k in codes) + " |"]
    lines += ["|---:|" + "---:|" * len(codes)]
    lines += [
        f"| {i + 1} | " + " | ".join(f"{times[k][i]:.1f}" for k in codes) + " |"
        for i in range(REPEATS)
    ]
    out = ROOT / "benchmarks" / "results" / "report_speed.md"
    write_report(out, "\n".join(lines) + "\n")
    print(f"written to {out}: {median:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
