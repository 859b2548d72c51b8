"""The workers of ``cnnzoo nas search``, stopped: SIGTERM and SIGINT put the candidates in
progress back, end the command's own workers and print one line; a killed parent takes its
workers with it; a stopped and resumed search equals an uninterrupted one."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from searchcli import search_command

# Candidates that train for about a second (idle 2-core CPU): a signal finds one mid-training.
FLAGS = [
    "--proxy-cells",
    "1",
    "--proxy-filters",
    "4",
    "--proxy-train-images",
    "256",
    "--proxy-val-images",
    "96",
]
WAIT_S = 120  # for a subprocess to reach a state; generous on a loaded 2-core machine


def env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=src, TERM="dumb")


def start(argv: list[str], stderr: Path) -> subprocess.Popen:
    """The command in its own session (its process group is the session's id, its pid)."""
    with open(stderr, "w") as err:
        return subprocess.Popen(
            argv, env=env(), stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )


def trials(db: Path) -> dict[int, tuple[str, bool]]:
    """``{number: (state, has a genotype)}`` of the study in ``db`` ({} before it exists)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            rows = c.execute(
                "select t.number, t.state, exists(select 1 from "
                "trial_user_attributes a where a.trial_id = t.trial_id and "
                "a.key = 'genotype') from trials t"
            ).fetchall()
    except sqlite3.OperationalError:
        return {}
    return {number: (state, bool(drawn)) for number, state, drawn in rows}


def wait_until(condition, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert proc.poll() is None, f"the search ended (exit {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {WAIT_S} s"
        time.sleep(0.05)


def training(db: Path, n: int) -> Callable[[], bool]:
    """Whether ``n`` trials are RUNNING with their genotype drawn: candidates in training."""
    return lambda: sum(s == ("RUNNING", True) for s in trials(db).values()) >= n


def session_processes(sid: int) -> list[str]:
    """The live (not zombie) processes of session ``sid``, as ``pid command``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(f"{entry.name} {cmdline.decode(errors='replace')[:100]}")
    return found


def wait_for_no_process(sid: int, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := session_processes(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def stop_lines(stderr: Path) -> list[str]:
    """Standard error without the progress lines (``nas search: k/K candidates, ...``)."""
    return [line for line in stderr.read_text().splitlines() if not line.startswith("nas search:")]


def start_long_search(mnist_dir: Path, out: Path, stderr: Path) -> subprocess.Popen:
    """A two-worker random search with a budget the workers would take minutes to finish: they
    end because they are stopped."""
    flags = ("--workers", "2", "--budget-candidates", "100", "--strategy", "random")
    return start(search_command(mnist_dir, out, *FLAGS, *flags), stderr)


def test_sigterm_to_a_multi_worker_search_leaves_no_process_behind(mnist_dir, tmp_path):
    out, err = tmp_path / "search", tmp_path / "stderr"
    proc = start_long_search(mnist_dir, out, err)
    try:
        wait_until(training(out / "search.db", 2), "two workers training", proc)
        assert len(session_processes(proc.pid)) >= 3  # the command and its two workers
        proc.send_signal(signal.SIGTERM)  # the main process only, as `kill PID` does
        assert proc.wait(timeout=60) == 143
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    lines = stop_lines(err)
    assert len(lines) == 1, lines  # no traceback, no Optuna report of a failed trial
    assert lines[0].startswith("cnnzoo nas search: stopped by SIGTERM at 0/100 candidates")
    assert "run the same command again" in lines[0]
    assert wait_for_no_process(proc.pid) == []
    # Both candidates in training were put back, to be trained first by the next run.
    states = trials(out / "search.db")
    assert sorted(s for s in states.values()) == [("WAITING", True)] * 2, states


def test_a_killed_search_takes_its_workers_with_it(mnist_dir, tmp_path):
    out = tmp_path / "search"
    proc = start_long_search(mnist_dir, out, tmp_path / "stderr")
    try:
        wait_until(training(out / "search.db", 2), "two workers training", proc)
        proc.send_signal(signal.SIGKILL)  # no handler runs: the kernel tells the workers
        proc.wait(timeout=60)
        assert wait_for_no_process(proc.pid) == []
    finally:
        if session_processes(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    assert all(state == "WAITING" for state, _ in trials(out / "search.db").values())


HISTORY_KEYS = (
    "number",
    "index",
    "state",
    "score",
    "val_loss",
    "macs",
    "params",
    "pareto",
    "retry_of",
    "genotype",
)


def history(out: Path) -> list[dict]:
    with open(out / "history.csv", newline="") as f:
        return [{k: row[k] for k in HISTORY_KEYS} for row in csv.DictReader(f)]


def test_ctrl_c_mid_candidate_then_a_rerun_equals_an_uninterrupted_search(mnist_dir, tmp_path):
    # Evolution with a population of 1: trial 1 is a mutation of trial 0, drawn from the study.
    extra = ("--budget-candidates", "2", "--population", "1", "--sample", "1", "--seed", "3")
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    done = subprocess.run(
        search_command(mnist_dir, whole, *FLAGS, *extra),
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr

    err = tmp_path / "stderr"
    proc = start(search_command(mnist_dir, stopped, *FLAGS, *extra), err)
    try:
        wait_until(
            lambda: trials(stopped / "search.db").get(1) == ("RUNNING", True),
            "candidate 2 in training",
            proc,
        )
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole group
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    lines = stop_lines(err)
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "cnnzoo nas search: stopped by SIGINT at 1/2 candidates (trial 1 put back)"
    )
    assert trials(stopped / "search.db") == {0: ("COMPLETE", True), 1: ("WAITING", True)}

    again = subprocess.run(
        search_command(mnist_dir, stopped, *FLAGS, *extra),
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    rows = history(stopped)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 2
    assert rows == history(whole)
