"""The Optuna study of a ``cnnzoo nas search``: its whole state, and the budget it keeps.

Every candidate is a trial of the study: its genotype (the named choices, and the JSON in its
user attributes), validation score, MACs, parameters, seconds and worker. The study is SQLite by
default (``<out>/search.db``) or any SQLAlchemy URL, e.g. PostgreSQL when several machines share
one search; the sampler is the strategy's (:func:`~cnnzoo.nas.strategies.make_sampler`). The
budget is the study's: workers stop when ``budget_candidates`` trials are COMPLETE, so the same
command run again after a crash, or on a second machine against the same storage and study,
finishes the remaining candidates and no more.

A worker keeps a heartbeat in the storage while it trains a candidate. If it dies on another
machine, the trial goes stale after :data:`GRACE_S` seconds, is marked FAIL and re-queued with the
same genotype (:func:`requeue_candidate`); the next worker to ask runs it. A trial killed while its
genotype was still being drawn (its choices are stored one by one) was no candidate yet: it stays
FAIL and a fresh draw takes its place; so does a trial whose worker died before naming itself
(:func:`fail_unclaimed`: Optuna's heartbeat check never ends a trial that sent no heartbeat). A
FAIL trial is not counted, so nothing is lost and nothing is counted twice. Two workers racing
for the last slot: the one whose trial number is past the budget marks it PRUNED
(:func:`over_budget`) unrun.

On this machine a trial is put back instead (:func:`roll_back`: RUNNING -> WAITING, the same
trial number, its recorded choices kept): a stopped worker puts its trial back before it exits,
and a worker found dead by the next run here (:func:`reclaim_dead_local`) has its trial put back.
The next run trains that trial first, with its genotype, under its own number; the samplers draw
from ``(seed, trial number)``, so a stopped and resumed single-worker search equals an
uninterrupted one.

Optuna's ``Study`` finishes trials but cannot put one back nor write another process's trial; the
storage can, so a search keeps the storage it opened its study on
(:func:`open_study_with_storage`) and passes it to those two calls.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cnnzoo.nas.storage import check_url, mask_url, storage_error, storage_errors
from cnnzoo.nas.strategies import DIRECTIONS, make_sampler, objectives

if TYPE_CHECKING:
    from optuna import Study
    from optuna.storages import RDBStorage

    from cnnzoo.nas.search import SearchConfig

HEARTBEAT_S = 10  # a running trial's heartbeat period
GRACE_S = 40  # a trial without heartbeat for this long is taken for dead and re-queued
MAX_RETRY = 3  # times a dead worker's candidate is run again


def quiet_optuna() -> None:
    """Optuna without its info lines and its warnings that heartbeats are experimental."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def make_storage(url: str) -> RDBStorage:
    """The study storage of ``url``, with heartbeats and the re-queueing of dead workers' trials.

    Raises:
        ValueError: one line, the URL masked: a URL that is malformed, names a missing driver,
            cannot be reached or refuses the login.
    """
    import optuna

    check_url(url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=HEARTBEAT_S,
            grace_period=GRACE_S,
            heartbeat_stale_trial_callback=requeue_candidate,
            engine_kwargs={"pool_pre_ping": True},
        )
    except Exception as err:  # SQLAlchemy's many connection and URL errors, the drivers' own
        raise storage_error(err, url) from None


def requeue_candidate(study, trial) -> None:
    """What becomes of a dead worker's FAIL trial: a candidate (its genotype drawn in full and
    recorded) is queued again with the same choices, up to :data:`MAX_RETRY` times; a trial killed
    while drawing its genotype holds only some of the choices and is left as it is."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    if "genotype" in trial.user_attrs:
        RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)(study, trial)


def open_study(config: SearchConfig) -> Study:
    """The config's study, created if new; one it does not fit is refused.

    Raises:
        ValueError: unreachable storage, or a study of that name with another search space,
            proxy, dataset, strategy or seed.
    """
    return open_study_with_storage(config)[0]


def open_study_with_storage(config: SearchConfig) -> tuple[Study, RDBStorage]:
    """:func:`open_study`, and the storage it opened the study on: the one that can put the
    study's trials back (:func:`roll_back`, :func:`reclaim_dead_local`).

    Raises:
        ValueError: as :func:`open_study`.
    """
    import optuna

    quiet_optuna()
    sampler = make_sampler(
        config.space,
        config.strategy,
        seed=config.seed,
        population=config.population,
        sample=config.sample,
    )
    directions = [DIRECTIONS[name] for name in objectives(config.strategy)]
    url = config.storage_url
    with storage_errors(url):
        storage = make_storage(url)
        study = optuna.create_study(
            storage=storage,
            study_name=config.study_name,
            directions=directions,
            sampler=sampler,
            load_if_exists=True,
        )
        want = config.identity()
        have = study.user_attrs.get("identity")
        if have is None:
            study.set_user_attr("identity", want)
    if have is not None and have != want:
        differ = ", ".join(k for k in want if have.get(k) != want[k])
        raise ValueError(
            f"study {config.study_name!r} in {mask_url(url)} exists with a different {differ}"
            f" (it has {json.dumps({k: have.get(k) for k in want if have.get(k) != want[k]})}); "
            "choose another --study or the same settings"
        )
    return study, storage


def trial_id(trial) -> int:
    """The storage's key of ``trial`` (a ``Trial`` or a ``FrozenTrial``), which the storage's
    calls take. Optuna keeps it private: its public lookup (study name, then trial number) costs
    two more queries, in a stopping worker too."""
    return trial._trial_id


def counts(study: Study) -> dict[str, int]:
    """Trials by state name."""
    out: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        out[trial.state.name] = out.get(trial.state.name, 0) + 1
    return out


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def roll_back(storage: RDBStorage, trial: int) -> bool:
    """Put a RUNNING trial back in the queue (WAITING): the same trial number, its recorded
    choices kept (any not drawn yet are drawn when it runs again), run before any new draw.

    Args:
        storage: the study's storage (:func:`open_study_with_storage`; the study itself has
            no call that does this).
        trial: the trial's :func:`trial_id`.

    Returns:
        Whether it was put back (False: it had finished meanwhile, or was never started).
    """
    import optuna
    from optuna.trial import TrialState

    try:
        if storage.get_trial(trial).state != TrialState.RUNNING:
            return False
        return storage.set_trial_state_values(trial, TrialState.WAITING)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def reclaim_dead_local(study: Study, storage: RDBStorage) -> list[int]:
    """Put back at once the RUNNING trials of workers of this machine whose process is gone (a
    killed search run again here need not wait for their heartbeats to go stale); a trial put
    back :data:`MAX_RETRY` times already (its candidate kills its worker) is marked FAIL.

    Args:
        study: the search's study.
        storage: the storage it was opened on (:func:`open_study_with_storage`).

    Returns:
        The numbers of the trials put back.
    """
    from optuna.trial import TrialState

    host = socket.gethostname()
    reclaimed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = str(trial.user_attrs.get("worker", "")).split(":")
        if not (len(owner) == 3 and owner[0] == host and not pid_alive(int(owner[1]))):
            continue
        restarts = trial.user_attrs.get("restarts", 0)
        if restarts >= MAX_RETRY:
            storage.set_trial_state_values(trial_id(trial), TrialState.FAIL)
            continue
        storage.set_trial_user_attr(trial_id(trial), "restarts", restarts + 1)
        if roll_back(storage, trial_id(trial)):
            reclaimed.append(trial.number)
    return reclaimed


def fail_unclaimed(study: Study, grace_s: float = GRACE_S) -> list[int]:
    """Mark FAIL the RUNNING trials that no worker claimed within ``grace_s`` seconds of their
    start: a worker writes its name first thing (:func:`~cnnzoo.nas.workers.objective`), so such
    a trial's worker died between creating it and naming itself, maybe before its first
    heartbeat; Optuna's stale-trial check passes over a trial without a heartbeat, so without
    this a search whose budget counts it would wait for it forever. It holds no genotype yet: a
    fresh draw takes its place.

    Returns:
        The numbers of the trials marked FAIL.
    """
    from optuna.trial import TrialState

    now = datetime.datetime.now()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        started = trial.datetime_start
        if "worker" in trial.user_attrs or started is None:
            continue
        if (now - started).total_seconds() > grace_s:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            failed.append(trial.number)
    return failed


def budget_state(study: Study, budget: int) -> str:
    """``"done"`` (budget COMPLETE), ``"wait"`` (the rest is running elsewhere) or ``"go"``."""
    import optuna

    optuna.storages.fail_stale_trials(study)
    fail_unclaimed(study)
    n = counts(study)
    if n.get("COMPLETE", 0) >= budget:
        return "done"
    if n.get("COMPLETE", 0) + n.get("RUNNING", 0) >= budget and not n.get("WAITING"):
        return "wait"
    return "go"


def over_budget(study: Study, trial, budget: int) -> bool:
    """Whether ``budget`` live trials (COMPLETE, RUNNING, WAITING) come before ``trial``."""
    from optuna.trial import TrialState

    live = study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    )
    return sum(t.number < trial.number for t in live) >= budget


def status(study: Study, budget: int, started: float) -> dict:
    """Where the search stands: COMPLETE, RUNNING, best score, candidates per minute."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    minutes = max(1e-9, (time.time() - started) / 60)
    recent = [t for t in done if t.datetime_complete and t.datetime_complete.timestamp() >= started]
    return {
        "complete": len(done),
        "budget": budget,
        "running": counts(study).get("RUNNING", 0),
        "best": max((t.values[0] for t in done), default=None),
        "per_minute": len(recent) / minutes,
    }
