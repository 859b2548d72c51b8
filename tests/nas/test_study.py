"""The study of a search, on its own (SQLite, no training): a stopped or dead worker's trial is put
back under its own number, a dead machine's candidate is re-queued, the budget counts only
finished candidates, and a study of other settings is refused."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from cnnzoo.nas.search import SearchConfig
from cnnzoo.nas.space import SearchSpace
from cnnzoo.nas.study import (
    MAX_RETRY,
    budget_state,
    fail_unclaimed,
    open_study,
    open_study_with_storage,
    over_budget,
    reclaim_dead_local,
    requeue_candidate,
    roll_back,
    trial_id,
)

# ask() outside optimize(): these tests are the workers, and keep no heartbeat
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")


def config(tmp_path: Path, **kw) -> SearchConfig:
    return SearchConfig(dataset="mnist", out=str(tmp_path), strategy="random", **kw)


@pytest.fixture
def dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def state(study, number: int) -> TrialState:
    return study.get_trials(deepcopy=False)[number].state


def test_a_running_trial_is_put_back_under_its_number_and_asked_first(tmp_path):
    study, storage = open_study_with_storage(config(tmp_path))
    first = study.ask()
    first.suggest_categorical("op", ["a", "b"])
    study.tell(study.ask(), 1.0)
    assert roll_back(storage, trial_id(first))
    assert state(study, first.number) == TrialState.WAITING
    assert not roll_back(storage, trial_id(first))  # WAITING, not RUNNING: nothing to do
    again = study.ask()
    assert again.number == first.number and again.params == first.params  # its choice kept
    study.tell(again, 0.5)
    assert not roll_back(storage, trial_id(again))  # finished: stays COMPLETE
    assert state(study, again.number) == TrialState.COMPLETE


def test_only_the_trials_of_dead_local_workers_are_reclaimed(tmp_path, dead_pid):
    study, storage = open_study_with_storage(config(tmp_path))
    host = socket.gethostname()
    owners = {
        "dead here": f"{host}:{dead_pid}:0",
        "alive here": f"{host}:{os.getpid()}:0",
        "elsewhere": f"another-{host}:{dead_pid}:0",
        "dead too often": f"{host}:{dead_pid}:1",
    }
    trials = {}
    for what, owner in owners.items():
        trials[what] = study.ask()
        trials[what].set_user_attr("worker", owner)
    trials["dead too often"].set_user_attr("restarts", MAX_RETRY)
    assert reclaim_dead_local(study, storage) == [trials["dead here"].number]
    states = {what: state(study, t.number) for what, t in trials.items()}
    assert states == {
        "dead here": TrialState.WAITING,
        "alive here": TrialState.RUNNING,
        "elsewhere": TrialState.RUNNING,  # its heartbeat decides (requeue_candidate)
        "dead too often": TrialState.FAIL,  # its candidate kills its worker
    }
    back = study.get_trials(deepcopy=False)[trials["dead here"].number]
    assert back.user_attrs["restarts"] == 1


def test_the_budget_counts_complete_candidates_only(tmp_path):
    study = open_study(config(tmp_path))
    assert budget_state(study, 2) == "go"
    running = study.ask()
    study.tell(study.ask(), state=TrialState.FAIL)  # not counted
    assert budget_state(study, 1) == "wait"  # the rest runs elsewhere
    assert budget_state(study, 2) == "go"
    study.tell(running, 1.0)
    assert budget_state(study, 1) == "done"
    late = study.ask()
    assert over_budget(study, late, 1) and not over_budget(study, late, 2)


def test_a_trial_no_worker_claimed_is_failed_after_the_grace_and_not_waited_for(tmp_path):
    study = open_study(config(tmp_path))
    orphan = study.ask()  # created; its worker died before naming itself (and any heartbeat)
    claimed = study.ask()
    claimed.set_user_attr("worker", "elsewhere:1:0")
    assert fail_unclaimed(study, grace_s=3600) == []  # too recent: it may be being claimed
    assert budget_state(study, 2) == "wait"
    assert fail_unclaimed(study, grace_s=0) == [orphan.number]
    assert state(study, orphan.number) == TrialState.FAIL
    assert state(study, claimed.number) == TrialState.RUNNING  # its heartbeat decides
    assert budget_state(study, 2) == "go"  # a fresh draw takes the orphan's place


def test_a_dead_candidate_is_requeued_and_a_half_drawn_trial_is_not(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'q.db'}")
    space = SearchSpace()
    choices = list(space.choices().items())
    drawn = study.ask()
    params = {name: drawn.suggest_categorical(name, options) for name, options in choices}
    drawn.set_user_attr("genotype", space.decode(params).to_dict())
    half = study.ask()
    for name, options in choices[:3]:
        half.suggest_categorical(name, options)
    for trial in (drawn, half):
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        requeue_candidate(study, study._storage.get_trial(trial._trial_id))
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert [t.system_attrs["failed_trial"] for t in waiting] == [drawn.number]
    assert waiting[0].params == params


def test_a_study_of_other_settings_is_refused(tmp_path):
    open_study(config(tmp_path))
    with pytest.raises(ValueError, match="exists with a different space") as refused:
        open_study(config(tmp_path, study="mnist-random-seed0", ops=("identity", "sep_conv_3x3")))
    assert "choose another --study or the same settings" in str(refused.value)
    with pytest.raises(ValueError, match="exists with a different seed"):
        open_study(config(tmp_path, study="mnist-random-seed0", seed=1))
    assert open_study(config(tmp_path)).study_name == "mnist-random-seed0"
