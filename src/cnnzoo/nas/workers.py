"""The workers of a ``cnnzoo nas search``: processes that ask the study for candidates, train them
on the proxy and tell it their scores, until its budget is COMPLETE.

One worker runs in the command's own process (:func:`work`); ``--workers W`` starts W spawned
processes (:func:`run_workers`). SIGINT or SIGTERM stops a worker mid-candidate and it puts its
trial back (:func:`~cnnzoo.nas.study.roll_back`) before it exits. A stopped ``--workers W`` search
sends SIGTERM to its workers and waits for them (SIGKILL after :data:`STOP_S` s), and puts back
the trials of any it had to kill; a worker also gets SIGTERM from the kernel when its parent
dies, however it dies (``PR_SET_PDEATHSIG``). A stop is only noted when it comes, and acted on
between storage calls: one raised inside a storage call could leave the study unable to put the
candidate back.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from cnnzoo.interrupt import (
    STOP_SIGNALS,
    Interrupted,
    StopFlag,
    catch_stop_signals,
    signal_name,
)
from cnnzoo.nas.proxy import evaluate_candidate, proxy_data
from cnnzoo.nas.storage import storage_errors
from cnnzoo.nas.strategies import objectives
from cnnzoo.nas.study import (
    budget_state,
    counts,
    open_study_with_storage,
    over_budget,
    reclaim_dead_local,
    roll_back,
    trial_id,
)

if TYPE_CHECKING:
    from optuna import Study
    from optuna.storages import RDBStorage

    from cnnzoo.nas.search import SearchConfig

POLL_S = 2.0  # how often an idle worker (budget full, trials still running) looks again
STOP_S = 15.0  # how long a stopped worker may take to put its trial back before SIGKILL
PR_SET_PDEATHSIG = 1  # linux/prctl.h: the signal a process gets when its parent dies


def objective(
    config: SearchConfig, data, worker: str, started: list[int], stop: StopFlag
) -> Callable:
    """The study's objective: decode the trial's genotype, train and score it on the proxy;
    returns the values of the strategy's :func:`~cnnzoo.nas.strategies.objectives`. Each trial's
    id is appended to ``started`` first (the trial a stopped worker puts back). A stop signal
    only sets ``stop`` (:func:`work` defers it); the objective raises
    :class:`~cnnzoo.interrupt.Interrupted` before the training and after it, and the training
    polls the flag after each step."""
    import optuna

    space, names = config.space, objectives(config.strategy)

    def run(trial) -> tuple[float, ...]:
        # The worker first (a killed run, started again here, finds its dead trials at once),
        # then the choices one by one, then the whole genotype: from that write on the trial
        # is a candidate, and one killed at any later point is re-run with its own genotype.
        started.append(trial_id(trial))
        trial.set_user_attr("worker", worker)
        params = {
            name: trial.suggest_categorical(name, options)
            for name, options in space.choices().items()
        }
        genotype = space.decode(params)
        trial.set_user_attr("genotype", genotype.to_dict())
        if over_budget(trial.study, trial, config.budget_candidates):
            trial.set_user_attr("over_budget", True)
            raise optuna.TrialPruned("over the study's budget")
        if stop.requested:
            raise stop.immediate(stop.signum)
        start = time.perf_counter()
        result = evaluate_candidate(
            genotype, data, config.proxy, seed=config.seed, should_stop=lambda: stop.requested
        )
        if result is None or stop.requested:
            raise stop.immediate(stop.signum)
        for key, value in result.items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("seconds", time.perf_counter() - start)
        return tuple(float(result[name]) for name in names)

    return run


def load_training_split(config: SearchConfig):
    """The dataset's training split and info; the test split is dropped unread."""
    from cnnzoo.data import load_dataset

    data = load_dataset(config.dataset, data_dir=config.data_dir)
    return data.train, data.info


def stopped_search(signum: int, study: Study, budget: int) -> Interrupted:
    """The stop of the search by ``signum``: how far the study is and which trials wait to run
    first (the storage is read at best: it may be what failed)."""
    from optuna.trial import TrialState

    try:
        waiting = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))]
        done = f" at {counts(study).get('COMPLETE', 0)}/{budget} candidates"
    except Exception:  # the storage's own errors: the stop is still reported in one line
        waiting, done = [], ""
    first = f" (trial {', '.join(map(str, waiting))} put back)" if waiting else ""
    return Interrupted(signum, f"stopped by {signal_name(signum)}{done}{first}")


def work(
    config: SearchConfig,
    deadline: float | None,
    threads: int,
    index: int,
    stop: StopFlag,
    on_trial: Callable[[], None] | None = None,
) -> int:
    """One worker: run candidates until the study's budget is COMPLETE or ``deadline`` passes;
    ``on_trial`` is called after each; ``stop`` is the flag of this process's stop signals.

    Returns:
        The candidates this worker completed.

    Raises:
        Interrupted: SIGINT or SIGTERM; the candidate in progress was put back
            (:func:`~cnnzoo.nas.study.roll_back`).
    """
    import torch
    from optuna.exceptions import UpdateFinishedTrialError

    # From here a signal only sets the flag, read between storage calls and after each training
    # step: a stop raised inside a storage call could leave the study unable to put back the
    # candidate in progress.
    stop.defer()
    torch.set_num_threads(threads)
    study, storage = open_study_with_storage(config)
    reclaim_dead_local(study, storage)
    train, info = load_training_split(config)
    data = proxy_data(train, info, config.proxy, config.seed)
    worker = f"{socket.gethostname()}:{os.getpid()}:{index}"
    started: list[int] = []
    fn = objective(config, data, worker, started, stop)
    done = 0
    try:
        while deadline is None or time.time() < deadline:
            if stop.requested:  # a stop raised where it could not propagate (a finalizer)
                raise stop.immediate(stop.signum)
            state = budget_state(study, config.budget_candidates)
            if state == "done":
                break
            if state == "wait":
                time.sleep(POLL_S)
                continue
            try:
                study.optimize(fn, n_trials=1)
            except UpdateFinishedTrialError:  # taken for dead meanwhile, and re-queued
                continue
            done += 1
            if on_trial:
                on_trial()
    except Interrupted as stopped:
        with contextlib.suppress(Exception):  # else the next run here reclaims it
            if started:
                roll_back(storage, started[-1])
        raise stopped_search(stopped.signum, study, config.budget_candidates) from None
    return done


def die_with_parent(parent: int) -> None:
    """Have the kernel send this process SIGTERM when its parent ends, however it ends (Linux's
    ``PR_SET_PDEATHSIG``), and send it now if the parent is already gone."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: no such call
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def _work_in_child(
    config: SearchConfig, deadline: float | None, threads: int, index: int, parent: int
) -> None:
    # The worker starts with SIGINT and SIGTERM blocked (the parent holds them while it starts
    # its workers), so a stop that comes before its handlers are in place waits for them.
    die_with_parent(parent)
    with catch_stop_signals() as stop:
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            with storage_errors(config.storage_url):
                work(config, deadline, threads, index, stop)
        except Interrupted as stopped:  # its trial is put back; the parent says what was kept
            sys.stderr.flush()
            os._exit(stopped.exit_code)  # at once: the interpreter's own teardown takes seconds
        except ValueError as err:
            raise SystemExit(f"cnnzoo nas search: error: {err}") from None


def stop_workers(procs: list) -> None:
    """SIGTERM to every live worker, which puts its trial back and exits; SIGKILL to any still
    alive :data:`STOP_S` seconds later."""
    live = [p for p in procs if p.is_alive()]
    for p in live:
        p.terminate()
    deadline = time.monotonic() + STOP_S
    for p in live:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in live:
        if p.is_alive():
            p.kill()
            p.join()


def run_workers(
    config: SearchConfig,
    study: Study,
    storage: RDBStorage,
    deadline: float | None,
    threads: int,
    stop: StopFlag,
    report: Callable[[], None] | None,
) -> None:
    """``config.workers`` worker processes to the budget; on SIGINT or SIGTERM (``stop``) they
    are stopped (:func:`stop_workers`), the trials of any killed one are put back, and
    :class:`~cnnzoo.interrupt.Interrupted` says so. ``storage`` is the one ``study`` was opened
    on.

    Raises:
        ValueError: workers failed before the budget was complete.
    """
    from cnnzoo.outdir import signals_held

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle spinning starves the others
    context = multiprocessing.get_context("spawn")
    procs = [
        context.Process(target=_work_in_child, args=(config, deadline, threads, i, os.getpid()))
        for i in range(config.workers)
    ]
    try:
        with signals_held():  # inherited: each worker unblocks them once its handlers are set
            for p in procs:
                p.start()
        stop.defer()  # read below, between storage calls
        while any(p.is_alive() for p in procs):
            if stop.requested:  # a stop raised where it could not propagate (a finalizer)
                raise stop.immediate(stop.signum)
            if report:
                report()
            for p in procs:
                p.join(timeout=POLL_S / len(procs))
    except Interrupted as stopped:
        stop_workers(procs)
        with contextlib.suppress(Exception):  # else the next run here reclaims them
            reclaim_dead_local(study, storage)
        raise stopped_search(stopped.signum, study, config.budget_candidates) from None
    finally:
        stop_workers(procs)
    failed = [p.exitcode for p in procs if p.exitcode]
    if failed and budget_state(study, config.budget_candidates) != "done" and not deadline:
        raise ValueError(f"{len(failed)} worker(s) stopped with exit codes {failed}")
