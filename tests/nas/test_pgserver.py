"""The throw-away PostgreSQL server: Optuna shares one study through it across processes, and
``stop()`` leaves nothing behind."""

from __future__ import annotations

import multiprocessing
import socket
import tempfile
from pathlib import Path

import optuna
import pytest
from pgserver import find_binaries, start_server

WORKERS, TRIALS_EACH = 2, 5


def _optimize(url: str, study_name: str, n_trials: int) -> None:
    """One worker process: load the shared study and run ``n_trials`` trivial trials."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=url)
    study.optimize(lambda trial: trial.suggest_float("x", -1.0, 1.0) ** 2, n_trials=n_trials)


def test_two_processes_share_one_study(postgres_url):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=postgres_url, study_name="t")
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(target=_optimize, args=(postgres_url, "t", TRIALS_EACH)) for _ in range(WORKERS)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * WORKERS

    trials = study.get_trials(deepcopy=False)
    assert len(trials) == WORKERS * TRIALS_EACH
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(WORKERS * TRIALS_EACH))


@pytest.mark.skipif(
    find_binaries() is None,
    reason="PostgreSQL's server binaries are not "
    "installed: run 'apt-get install postgresql' as root",
)
def test_stop_closes_the_port_and_removes_the_folder():
    server = start_server(Path(tempfile.mkdtemp(prefix="cnnzoo-pg-")))
    try:
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
        assert server.data_dir.is_relative_to(server.folder)
    finally:
        server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    assert not server.folder.exists()
    server.stop()  # a second stop (the fixture's atexit) does nothing
