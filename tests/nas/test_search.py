"""``cnnzoo nas search`` with tiny budgets on a fake MNIST: the study's budget is exact over
restarts, killed runs and several workers (SQLite and a real PostgreSQL server), the test split
is never read, and bad input gets one line."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from searchcli import cli, search_argv, search_command

from cnnzoo.nas.outputs import genotype_from_file
from cnnzoo.nas.proxy import Proxy
from cnnzoo.nas.search import SearchConfig, search
from cnnzoo.nas.study import open_study

TINY = Proxy(num_cells=1, filters=4, epochs=1, train_images=192, val_images=96)
TINY_FLAGS = [
    "--proxy-cells",
    "1",
    "--proxy-filters",
    "4",
    "--proxy-train-images",
    "192",
    "--proxy-val-images",
    "96",
]


def config(mnist_dir: Path, out: Path, **kw) -> SearchConfig:
    return SearchConfig(dataset="mnist", data_dir=str(mnist_dir), out=str(out), proxy=TINY, **kw)


def env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=src, TERM="dumb")


def history(out: Path) -> list[dict]:
    with open(out / "history.csv") as f:
        return list(csv.DictReader(f))


def complete_trials(study) -> list:
    return study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))


def test_search_writes_its_outputs_and_stops_at_the_budget(mnist_dir, tmp_path):
    summary = search(config(mnist_dir, tmp_path, budget_candidates=3, strategy="random"))
    assert summary["complete"] == 3
    rows = history(tmp_path)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3
    assert all(float(r["score"]) >= 0 and int(r["macs"]) > 0 and int(r["params"]) > 0 for r in rows)
    for name in ("search_curve.png", "best_genotype.json", "best_cell.png", "best_cell.svg"):
        assert (tmp_path / name).is_file()
    # Run again: the study is complete, nothing more is trained.
    again = search(config(mnist_dir, tmp_path, budget_candidates=3, strategy="random"))
    assert again["complete"] == 3 and len(history(tmp_path)) == 3
    # A larger budget completes the difference only.
    more = search(config(mnist_dir, tmp_path, budget_candidates=5, strategy="random"))
    assert more["complete"] == 5
    assert [r["number"] for r in history(tmp_path)] == [str(i) for i in range(5)]


def wait_for_complete(db: Path, n: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as c:
                    done = c.execute("select count(*) from trials where state = 'COMPLETE'")
                    if done.fetchone()[0] >= n:
                        return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.2)
    raise AssertionError(f"{n} trials did not complete within {timeout} s")


def test_killed_search_resumes_without_repeating_finished_candidates(mnist_dir, tmp_path):
    command = search_command(
        mnist_dir, tmp_path, *TINY_FLAGS, "--budget-candidates", "4", "--strategy", "random"
    )
    proc = subprocess.Popen(command, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_complete(tmp_path / "search.db", 2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    study = open_study(config(mnist_dir, tmp_path, budget_candidates=4, strategy="random"))
    before = {t.number: (t.value, t.params) for t in complete_trials(study)}
    assert len(before) >= 2
    done = subprocess.run(command, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    after = complete_trials(study)
    assert len(after) == 4  # exactly the budget
    assert {t.number: (t.value, t.params) for t in after if t.number in before} == before
    states = [t.state.name for t in study.get_trials()]
    assert states.count("RUNNING") == 0 and states.count("WAITING") == 0
    # The candidate that was running when the process died was run again, with its genotype;
    # a trial killed while its genotype was still being drawn was no candidate and is not.
    failed = [t for t in study.get_trials() if t.state.name == "FAIL"]
    for trial in failed:
        retries = [t for t in after if t.system_attrs.get("failed_trial") == trial.number]
        if "genotype" in trial.user_attrs:
            assert retries and retries[0].params == trial.params
        else:
            assert not retries


def test_two_workers_share_one_store(mnist_dir, tmp_path):
    summary = search(config(mnist_dir, tmp_path, budget_candidates=4, workers=2))
    assert summary["complete"] == 4
    study = open_study(config(mnist_dir, tmp_path, budget_candidates=4, workers=2))
    done = complete_trials(study)
    assert len(done) == 4 and len({t.number for t in done}) == 4
    assert len({t.user_attrs["worker"] for t in done}) == 2  # both processes trained candidates


def test_two_workers_share_a_postgresql_study(mnist_dir, tmp_path, postgres_url):
    cfg = config(
        mnist_dir,
        tmp_path,
        budget_candidates=4,
        workers=2,
        storage=postgres_url,
        study="pg-two-workers",
    )
    assert search(cfg)["complete"] == 4
    done = complete_trials(open_study(cfg))
    assert len(done) == 4 and len({t.number for t in done}) == 4
    assert len({t.user_attrs["worker"] for t in done}) == 2
    # A second "machine" (another process) on the same study adds nothing: the budget is full.
    again = subprocess.run(
        search_command(
            mnist_dir,
            tmp_path / "second",
            *TINY_FLAGS,
            "--storage",
            postgres_url,
            "--study",
            "pg-two-workers",
            "--budget-candidates",
            "4",
        ),
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert len(complete_trials(open_study(cfg))) == 4


class Unreadable:
    """A split that fails the test on any use."""

    def __getattr__(self, name):
        raise AssertionError(f"the search read the test split ({name})")

    def __len__(self):
        raise AssertionError("the search read the test split (len)")


def test_the_test_split_is_never_read(mnist_dir, tmp_path, monkeypatch):
    import dataclasses

    import cnnzoo.data

    real = cnnzoo.data.load_dataset

    def guarded(*args, **kwargs):
        return dataclasses.replace(real(*args, **kwargs), test=Unreadable())

    monkeypatch.setattr(cnnzoo.data, "load_dataset", guarded)
    assert search(config(mnist_dir, tmp_path, budget_candidates=2))["complete"] == 2


def test_a_study_with_another_space_is_refused(mnist_dir, tmp_path):
    search(config(mnist_dir, tmp_path, budget_candidates=1))
    code, _, err = cli(
        *search_argv(
            mnist_dir,
            tmp_path,
            *TINY_FLAGS,
            "--budget-candidates",
            "1",
            "--ops",
            "identity,sep_conv_3x3",
        )
    )
    assert code == 2 and err.count("\n") == 1
    assert "study 'mnist-evolution-seed0'" in err and "exists with a different space" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--storage", "postgresql+psycopg://nobody@127.0.0.1:1/none"],
            "--storage 'postgresql+psycopg://nobody@127.0.0.1:1/none' cannot be used",
        ),
        (["--storage", "nosuchdb://x"], "--storage 'nosuchdb://x' cannot be used"),
        (["--ops", "sep_conv_3x3,conv_9x9"], "unknown operation(s) 'conv_9x9'"),
        (["--budget-candidates", "0"], "--budget-candidates must be positive"),
        (["--strategy", "nsga2", "--population", "1"], "--population must be at least 2 for nsga2"),
        (["--population", "3", "--sample", "5"], "--sample must be 1 .. --population (3), got 5"),
    ],
)
def test_bad_search_input_gets_one_line(mnist_dir, tmp_path, flags, message):
    code, _, err = cli(*search_argv(mnist_dir, tmp_path, *flags))
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert err.startswith("cnnzoo nas search: error: ")


def test_nsga2_searches_score_and_macs_and_writes_their_front(mnist_dir, tmp_path):
    cfg = config(mnist_dir, tmp_path, budget_candidates=5, strategy="nsga2", population=2)
    summary = search(cfg)
    study = open_study(cfg)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    trials = complete_trials(study)
    assert len(trials) == 5 == summary["complete"]
    assert all(t.values[1] == t.user_attrs["macs"] for t in trials)
    generations = {v for t in trials for k, v in t.system_attrs.items() if k.endswith("generation")}
    assert generations == {0, 1, 2}  # a population of 2: random, then two generations of children
    # The front written is Optuna's own: the trials no other beats on both objectives.
    front = json.loads((tmp_path / "pareto.json").read_text())
    assert {f["number"] for f in front} == {t.number for t in study.best_trials}
    assert summary["pareto"] == len(front) >= 1
    assert [f["macs"] for f in front] == sorted(f["macs"] for f in front)  # cheapest first
    rows = history(tmp_path)
    assert {int(r["number"]) for r in rows if r["pareto"] == "True"} == {f["number"] for f in front}
    cheapest = genotype_from_file(tmp_path / "pareto.json", front[0]["number"])
    assert cheapest.to_dict() == front[0]["genotype"]
    assert (tmp_path / "pareto_front.png").stat().st_size > 10_000
    # A study of another strategy under the same name is refused.
    with pytest.raises(ValueError, match="exists with a different strategy"):
        open_study(config(mnist_dir, tmp_path, strategy="random", study=cfg.study_name))
