"""``cnnzoo nas search``: a NASNet-space cell search whose whole state lives in an Optuna study.

Every candidate is a trial of the study: its genotype (the named choices, and the JSON in its
user attributes), validation score, MACs, parameters, seconds and worker. The study is SQLite by
default (``<out>/search.db``) or any SQLAlchemy URL, e.g. PostgreSQL when several machines share
one search. The budget is the study's: workers stop when ``budget_candidates`` trials are
COMPLETE, so the same command run again after a crash, or on a second machine against the same
storage and study, finishes the remaining candidates and no more.

A worker keeps a heartbeat in the storage while it trains a candidate. If it dies on another
machine, the trial goes stale after :data:`GRACE_S` seconds, is marked FAIL and re-queued with the
same genotype (:func:`requeue_candidate`); the next worker to ask runs it. A trial killed while its
genotype was still being drawn (its choices are stored one by one) was no candidate yet: it stays
FAIL and a fresh draw takes its place. A FAIL trial is not counted, so nothing is lost and nothing
is counted twice. Two workers racing for the last slot: the one whose trial number is past the
budget marks it PRUNED (``over_budget``) unrun.

On this machine a trial is put back instead (:func:`roll_back`: RUNNING -> WAITING, the same
trial number, its recorded choices kept): SIGINT or SIGTERM stops a worker mid-candidate and it
puts its trial back before it exits, and a worker found dead by the next run here
(:func:`reclaim_dead_local`) has its trial put back. The next run trains that trial first, with
its genotype, under its own number; the samplers draw from ``(seed, trial number)``, so a stopped
and resumed single-worker search equals an uninterrupted one. A stopped ``--workers W`` search
sends SIGTERM to its workers and waits for them (SIGKILL after :data:`STOP_S` s); a worker also
gets SIGTERM from the kernel when its parent dies, however it dies (``PR_SET_PDEATHSIG``).

The output folder is held through :func:`cnnzoo.outdir.owned` (one search at a time, never a
folder of someone else's files), every file in it is written atomically, and a storage URL is
shown and written only masked (:func:`cnnzoo.nas.storage.mask_url`).

Evolution and random search maximize the validation score alone; NSGA-II's study has two
objectives, the score and the MACs, and its result is their Pareto front. Every search writes its
front (``pareto.json``, ``pareto_front.png``, a ``pareto`` column in ``history.csv``): the cells
a user can pick from when the network must be small.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import dataclasses
import io
import json
import math
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cnnzoo.interrupt import (
    STOP_SIGNALS,
    Interrupted,
    StopFlag,
    catch_stop_signals,
    signal_name,
)
from cnnzoo.nas.pareto import front_entries, pareto_front
from cnnzoo.nas.proxy import Proxy, evaluate_candidate, proxy_data, proxy_dict
from cnnzoo.nas.space import SearchSpace
from cnnzoo.nas.storage import check_url, mask_url, storage_error, storage_errors
from cnnzoo.nas.strategies import (
    DIRECTIONS,
    POPULATION,
    SAMPLE,
    STRATEGIES,
    make_sampler,
    objectives,
)

HEARTBEAT_S = 10  # a running trial's heartbeat period
GRACE_S = 40  # a trial without heartbeat for this long is taken for dead and re-queued
MAX_RETRY = 3  # times a dead worker's candidate is run again
POLL_S = 2.0  # how often an idle worker (budget full, trials still running) looks again
STOP_S = 15.0  # how long a stopped worker may take to put its trial back before SIGKILL
PR_SET_PDEATHSIG = 1  # linux/prctl.h: the signal a process gets when its parent dies
COMMAND = "nas search"  # the output folder's owner (cnnzoo.outdir)
LEGACY = ("search.db", "history.csv")  # a search folder from before output markers
RECORD = "search.json"  # the configuration (storage masked), environment and summary
HISTORY_FIELDS = (
    "number",
    "strategy",
    "seed",
    "index",
    "state",
    "score",
    "val_loss",
    "macs",
    "params",
    "pareto",
    "train_s",
    "images_per_s",
    "seconds",
    "worker",
    "retry_of",
    "genotype",
)


@dataclass(frozen=True)
class SearchConfig:
    """What ``cnnzoo nas search`` does; one field per flag.

    Attributes:
        dataset, data_dir: the dataset whose TRAINING split the proxy uses.
        strategy: ``evolution`` (regularized evolution), ``random`` or ``nsga2`` (NSGA-II on
            validation score and MACs).
        budget_candidates: the study's total of COMPLETE candidates.
        budget_minutes: this command's own time limit (the study's total is unchanged).
        workers: candidate-training processes on this machine (each gets cores / workers threads).
        storage: an SQLAlchemy URL; default ``sqlite:///<out>/search.db``.
        study: the study's name; default ``<dataset>-<strategy>-seed<seed>``.
        seed: the candidates' draws, the held-out split and the proxy's training seed.
        out: where ``history.csv``, ``search_curve.png``, ``best_genotype.json`` and its cell
            drawing go (and ``search.db``, the default storage).
        force: write into an ``out`` that holds files cnnzoo did not write.
        ops: the operations of the space (default: all 13).
        proxy: the candidates' size and training budget.
        population, sample: P and S of regularized evolution; P is NSGA-II's population.
    """

    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    strategy: str = "evolution"
    budget_candidates: int = 100
    budget_minutes: float | None = None
    workers: int = 1
    storage: str | None = None
    study: str | None = None
    seed: int = 0
    out: str = "runs/nas-search"
    ops: tuple[str, ...] | None = None
    proxy: Proxy = field(default_factory=Proxy)
    population: int = POPULATION
    sample: int = SAMPLE
    force: bool = False

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}"
            )
        if self.budget_candidates < 1:
            raise ValueError("--budget-candidates must be positive")
        if self.budget_minutes is not None and self.budget_minutes <= 0:
            raise ValueError("--budget-minutes must be positive")
        if self.workers < 1:
            raise ValueError("--workers must be positive")
        if self.strategy == "nsga2" and self.population < 2:
            raise ValueError(
                f"--population must be at least 2 for nsga2 (its children have two "
                f"parents), got {self.population}"
            )
        if self.strategy == "evolution" and not 1 <= self.sample <= self.population:
            raise ValueError(
                f"--sample must be 1 .. --population ({self.population}), got {self.sample}"
            )

    @property
    def space(self) -> SearchSpace:
        return SearchSpace(ops=self.ops) if self.ops else SearchSpace()

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{Path(self.out).resolve() / 'search.db'}"

    @property
    def study_name(self) -> str:
        return self.study or f"{self.dataset}-{self.strategy}-seed{self.seed}"

    def identity(self) -> dict:
        """What a study is bound to: another search may share it only if these are equal."""
        return {
            "space": self.space.to_dict(),
            "proxy": proxy_dict(self.proxy),
            "dataset": self.dataset,
            "strategy": self.strategy,
            "seed": self.seed,
        }


def quiet_optuna() -> None:
    """Optuna without its info lines and its warnings that heartbeats are experimental."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def make_storage(url: str):
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


def open_study(config: SearchConfig):
    """The config's study, created if new; one it does not fit is refused.

    Raises:
        ValueError: unreachable storage, or a study of that name with another search space,
            proxy, dataset, strategy or seed.
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
        study = optuna.create_study(
            storage=make_storage(url),
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
    return study


def counts(study) -> dict[str, int]:
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


def roll_back(study, trial_id: int) -> bool:
    """Put a RUNNING trial back in the queue (WAITING): the same trial number, its recorded
    choices kept (any not drawn yet are drawn when it runs again), run before any new draw.

    Returns:
        Whether it was put back (False: it had finished meanwhile, or was never started).
    """
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    try:
        if storage.get_trial(trial_id).state != TrialState.RUNNING:
            return False
        return storage.set_trial_state_values(trial_id, TrialState.WAITING)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def reclaim_dead_local(study) -> list[int]:
    """Put back at once the RUNNING trials of workers of this machine whose process is gone (a
    killed search run again here need not wait for their heartbeats to go stale); a trial put
    back :data:`MAX_RETRY` times already (its candidate kills its worker) is marked FAIL.

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
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            continue
        study._storage.set_trial_user_attr(trial._trial_id, "restarts", restarts + 1)
        if roll_back(study, trial._trial_id):
            reclaimed.append(trial.number)
    return reclaimed


def budget_state(study, budget: int) -> str:
    """``"done"`` (budget COMPLETE), ``"wait"`` (the rest is running elsewhere) or ``"go"``."""
    import optuna

    optuna.storages.fail_stale_trials(study)
    n = counts(study)
    if n.get("COMPLETE", 0) >= budget:
        return "done"
    if n.get("COMPLETE", 0) + n.get("RUNNING", 0) >= budget and not n.get("WAITING"):
        return "wait"
    return "go"


def over_budget(study, trial, budget: int) -> bool:
    """Whether ``budget`` live trials (COMPLETE, RUNNING, WAITING) come before ``trial``."""
    from optuna.trial import TrialState

    live = study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    )
    return sum(t.number < trial.number for t in live) >= budget


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
        started.append(trial._trial_id)
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


def stopped_search(signum: int, study, budget: int) -> Interrupted:
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
            (:func:`roll_back`).
    """
    import torch
    from optuna.exceptions import UpdateFinishedTrialError

    # From here a signal only sets the flag, read between storage calls and after each training
    # step: a stop raised inside a storage call could leave the study unable to put back the
    # candidate in progress.
    stop.defer()
    torch.set_num_threads(threads)
    study = open_study(config)
    reclaim_dead_local(study)
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
                roll_back(study, started[-1])
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
    study,
    deadline: float | None,
    threads: int,
    stop: StopFlag,
    report: Callable[[], None] | None,
) -> None:
    """``config.workers`` worker processes to the budget; on SIGINT or SIGTERM (``stop``) they
    are stopped (:func:`stop_workers`), the trials of any killed one are put back, and
    :class:`~cnnzoo.interrupt.Interrupted` says so.

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
            reclaim_dead_local(study)
        raise stopped_search(stopped.signum, study, config.budget_candidates) from None
    finally:
        stop_workers(procs)
    failed = [p.exitcode for p in procs if p.exitcode]
    if failed and budget_state(study, config.budget_candidates) != "done" and not deadline:
        raise ValueError(f"{len(failed)} worker(s) stopped with exit codes {failed}")


def config_record(config: SearchConfig) -> dict:
    """The configuration as plain data, with the storage it resolved to, masked."""
    record = dataclasses.asdict(config)
    record.update(
        storage=mask_url(config.storage_url), study=config.study_name, ops=list(config.space.ops)
    )
    return record


def write_record(out: Path, config: SearchConfig, summary: dict | None = None) -> None:
    """``search.json``: what made the folder (configuration, versions, commit) and, once the
    search ends, its summary."""
    from cnnzoo.env import environment
    from cnnzoo.files import write_text_atomic

    record = {
        "command": f"cnnzoo {COMMAND}",
        "config": config_record(config),
        "environment": environment(),
        "summary": summary,
    }
    write_text_atomic(out / RECORD, json.dumps(record, indent=1) + "\n")


@contextlib.contextmanager
def writing_into(out: Path) -> Iterator[None]:
    """Name ``out`` in an ``OSError`` of the block that names no file (a write on a full disk)."""
    try:
        yield
    except OSError as err:
        if err.filename is not None or err.errno is None:
            raise
        raise OSError(err.errno, err.strerror, str(out)) from None


def search(config: SearchConfig, progress: Callable[[dict], None] | None = None) -> dict:
    """Run the search to its budget with ``config.workers`` processes, then write the outputs.

    Args:
        config: the search.
        progress: called every few seconds with :func:`status` while workers run.

    Returns:
        :func:`write_outputs`' summary.

    Raises:
        ValueError: one line: an ``out`` that is in use, a file or someone else's folder; a
            storage that cannot be used (its URL masked); a study of other settings.
        Interrupted: SIGINT or SIGTERM; the candidates in progress were put back.
    """
    from cnnzoo.outdir import owned

    with (
        owned(config.out, COMMAND, legacy=LEGACY, force=config.force) as folder,
        catch_stop_signals() as stop,
    ):
        study = open_study(config)  # fail here, in one line, before any worker starts
        out = folder.mark()
        with writing_into(out):
            write_record(out, config)
        with storage_errors(config.storage_url):
            reclaim_dead_local(study)
            deadline = time.time() + 60 * config.budget_minutes if config.budget_minutes else None
            threads = max(1, (os.cpu_count() or 1) // config.workers)
            started = time.time()
            report = progress and (
                lambda: progress(status(study, config.budget_candidates, started))
            )
            if config.workers == 1:
                work(config, deadline, threads, 0, stop, on_trial=report)
            else:
                run_workers(config, study, deadline, threads, stop, report)
            if report:
                report()
            with writing_into(out):
                summary = write_outputs(study, config)
        with writing_into(out):
            write_record(out, config, summary)
        return summary


def status(study, budget: int, started: float) -> dict:
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


def history_rows(study, config: SearchConfig) -> list[dict]:
    """One row per candidate, in trial order; over-budget trials are left out. ``pareto`` says
    whether a COMPLETE candidate is on the front of score and MACs."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    rows = []
    index = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("over_budget"):
            continue
        attrs = trial.user_attrs
        complete = trial.state.name == "COMPLETE"
        index += complete
        genotype = attrs.get("genotype")
        rows.append(
            {
                "number": trial.number,
                "strategy": config.strategy,
                "seed": config.seed,
                "index": index if complete else "",
                "state": trial.state.name,
                "score": trial.values[0] if complete else None,
                "val_loss": attrs.get("val_loss"),
                "macs": attrs.get("macs"),
                "params": attrs.get("params"),
                "train_s": attrs.get("train_s"),
                "images_per_s": attrs.get("images_per_s"),
                "seconds": attrs.get("seconds"),
                "worker": attrs.get("worker"),
                "retry_of": RetryHeartbeatStaleTrialCallback.retried_trial_number(trial),
                "genotype": json.dumps(genotype, separators=(",", ":")) if genotype else "",
            }
        )
    front = {id(row) for row in pareto_front(r for r in rows if r["state"] == "COMPLETE")}
    for row in rows:
        row["pareto"] = id(row) in front if row["state"] == "COMPLETE" else None
    return rows


def csv_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in HISTORY_FIELDS})
    return buffer.getvalue()


def write_outputs(study, config: SearchConfig) -> dict:
    """``history.csv``, ``search_curve.png``, ``best_genotype.json``, ``best_cell.png/.svg``,
    ``pareto.json`` and ``pareto_front.png`` in ``config.out``; returns a JSON-ready summary."""
    from cnnzoo.files import write_text_atomic
    from cnnzoo.models.genotype import Genotype
    from cnnzoo.nas import draw

    out = Path(config.out)
    rows = history_rows(study, config)
    write_text_atomic(out / "history.csv", csv_text(rows))
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    summary = {
        "study": config.study_name,
        "storage": mask_url(config.storage_url),
        "strategy": config.strategy,
        "complete": len(complete),
        "budget": config.budget_candidates,
        "failed": sum(r["state"] == "FAIL" for r in rows),
        "out": str(out),
    }
    if not complete:
        return summary
    draw.save_search_curve(
        out / "search_curve.png", complete, title=f"{config.strategy}, {config.dataset}"
    )
    best = max(complete, key=lambda r: (r["score"], -r["number"]))
    genotype = Genotype.from_dict(json.loads(best["genotype"]))
    write_text_atomic(out / "best_genotype.json", genotype.to_json(indent=2) + "\n")
    draw.save_genotype(genotype, out / "best_cell")
    front = front_entries(complete)
    write_text_atomic(out / "pareto.json", json.dumps(front, indent=1) + "\n")
    draw.save_pareto_front(
        out / "pareto_front.png",
        complete,
        title=f"{config.strategy}, {config.dataset}: validation top-1 against MACs",
    )
    summary.update(
        best_score=best["score"],
        best_number=best["number"],
        best_macs=best["macs"],
        best_params=best["params"],
        pareto=len(front),
        minutes=sum(r["seconds"] or 0 for r in complete) / 60,
        mean_candidate_s=sum(r["seconds"] or 0 for r in complete) / len(complete),
    )
    if not math.isfinite(summary["best_score"]):
        summary["best_score"] = None
    return summary
