"""``cnnzoo nas search``: a NASNet-space cell search whose whole state lives in an Optuna study.

Every candidate is a trial of the study: its genotype (the named choices, and the JSON in its
user attributes), validation score, MACs, parameters, seconds and worker. The study is SQLite by
default (``<out>/search.db``) or any SQLAlchemy URL, e.g. PostgreSQL when several machines share
one search. The budget is the study's: workers stop when ``budget_candidates`` trials are
COMPLETE, so the same command run again after a crash, or on a second machine against the same
storage and study, finishes the remaining candidates and no more.

A worker keeps a heartbeat in the storage while it trains a candidate. If it dies, the trial goes
stale after :data:`GRACE_S` seconds, is marked FAIL and re-queued with the same genotype
(:func:`requeue_candidate`); the next worker to ask runs it. A trial killed while its genotype was
still being drawn (its choices are stored one by one) was no candidate yet: it stays FAIL and a
fresh draw takes its place. A FAIL trial is not counted, so nothing is lost and nothing is
counted twice. Two workers racing for the last slot: the one whose trial number is past the
budget marks it PRUNED (``over_budget``) unrun.

Evolution and random search maximize the validation score alone; NSGA-II's study has two
objectives, the score and the MACs, and its result is their Pareto front. Every search writes its
front (``pareto.json``, ``pareto_front.png``, a ``pareto`` column in ``history.csv``): the cells
a user can pick from when the network must be small.
"""

from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cnnzoo.nas.pareto import front_entries, pareto_front
from cnnzoo.nas.proxy import Proxy, evaluate_candidate, proxy_data, proxy_dict
from cnnzoo.nas.space import SearchSpace
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
HISTORY_FIELDS = ("number", "strategy", "seed", "index", "state", "score", "val_loss", "macs",
                  "params", "pareto", "train_s", "images_per_s", "seconds", "worker",
                  "retry_of", "genotype")  # fmt: skip


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
            drawing go.
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

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"--strategy must be one of {', '.join(STRATEGIES)}, got "
                             f"{self.strategy!r}")  # fmt: skip
        if self.budget_candidates < 1:
            raise ValueError("--budget-candidates must be positive")
        if self.budget_minutes is not None and self.budget_minutes <= 0:
            raise ValueError("--budget-minutes must be positive")
        if self.workers < 1:
            raise ValueError("--workers must be positive")
        if self.strategy == "nsga2" and self.population < 2:
            raise ValueError(f"--population must be at least 2 for nsga2 (its children have two "
                             f"parents), got {self.population}")  # fmt: skip
        if self.strategy == "evolution" and not 1 <= self.sample <= self.population:
            raise ValueError(f"--sample must be 1 .. --population ({self.population}), got "
                             f"{self.sample}")  # fmt: skip

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
        return {"space": self.space.to_dict(), "proxy": proxy_dict(self.proxy),
                "dataset": self.dataset, "strategy": self.strategy, "seed": self.seed}  # fmt: skip


def quiet_optuna() -> None:
    """Optuna without its info lines and its warnings that heartbeats are experimental."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def make_storage(url: str):
    """The study storage of ``url``, with heartbeats and the re-queueing of dead workers' trials.

    Raises:
        ValueError: a URL that is malformed, names a missing driver, or cannot be reached.
    """
    import optuna

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.RDBStorage(
            url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
            heartbeat_stale_trial_callback=requeue_candidate,
            engine_kwargs={"pool_pre_ping": True},
        )  # fmt: skip
    except Exception as err:  # SQLAlchemy's many connection and URL errors
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"--storage {url!r} cannot be used: {first}") from None


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
    sampler = make_sampler(config.space, config.strategy, seed=config.seed,
                           population=config.population, sample=config.sample)  # fmt: skip
    directions = [DIRECTIONS[name] for name in objectives(config.strategy)]
    study = optuna.create_study(storage=make_storage(config.storage_url),
                                study_name=config.study_name, directions=directions,
                                sampler=sampler, load_if_exists=True)  # fmt: skip
    want = config.identity()
    have = study.user_attrs.get("identity")
    if have is None:
        study.set_user_attr("identity", want)
    elif have != want:
        differ = ", ".join(k for k in want if have.get(k) != want[k])
        raise ValueError(
            f"study {config.study_name!r} in {config.storage_url} exists with a different {differ}"
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


def reclaim_dead_local(study) -> int:
    """Re-queue at once the RUNNING trials of workers of this machine whose process is gone (a
    killed search run again here need not wait for their heartbeats to go stale).

    Returns:
        How many trials were re-queued.
    """
    from optuna.trial import TrialState

    host = socket.gethostname()
    reclaimed = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = str(trial.user_attrs.get("worker", "")).split(":")
        dead = len(owner) == 3 and owner[0] == host and not pid_alive(int(owner[1]))
        if dead and study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            requeue_candidate(study, study._storage.get_trial(trial._trial_id))
            reclaimed += 1
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

    live = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING,
                                                    TrialState.WAITING))  # fmt: skip
    return sum(t.number < trial.number for t in live) >= budget


def objective(config: SearchConfig, data, worker: str) -> Callable:
    """The study's objective: decode the trial's genotype, train and score it on the proxy;
    returns the values of the strategy's :func:`~cnnzoo.nas.strategies.objectives`."""
    import optuna

    space, names = config.space, objectives(config.strategy)

    def run(trial) -> tuple[float, ...]:
        # The worker first (a killed run, started again here, finds its dead trials at once),
        # then the choices one by one, then the whole genotype: from that write on the trial
        # is a candidate, and one killed at any later point is re-run with its own genotype.
        trial.set_user_attr("worker", worker)
        params = {name: trial.suggest_categorical(name, options)
                  for name, options in space.choices().items()}  # fmt: skip
        genotype = space.decode(params)
        trial.set_user_attr("genotype", genotype.to_dict())
        if over_budget(trial.study, trial, config.budget_candidates):
            trial.set_user_attr("over_budget", True)
            raise optuna.TrialPruned("over the study's budget")
        start = time.perf_counter()
        result = evaluate_candidate(genotype, data, config.proxy, seed=config.seed)
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


def work(
    config: SearchConfig, deadline: float | None, threads: int, index: int,
    on_trial: Callable[[], None] | None = None,
) -> int:  # fmt: skip
    """One worker: run candidates until the study's budget is COMPLETE or ``deadline`` passes;
    ``on_trial`` is called after each.

    Returns:
        The candidates this worker completed.
    """
    import torch

    torch.set_num_threads(threads)
    study = open_study(config)
    reclaim_dead_local(study)
    train, info = load_training_split(config)
    data = proxy_data(train, info, config.proxy, config.seed)
    worker = f"{socket.gethostname()}:{os.getpid()}:{index}"
    fn = objective(config, data, worker)
    done = 0
    while deadline is None or time.time() < deadline:
        state = budget_state(study, config.budget_candidates)
        if state == "done":
            break
        if state == "wait":
            time.sleep(POLL_S)
            continue
        study.optimize(fn, n_trials=1)
        done += 1
        if on_trial:
            on_trial()
    return done


def _work_in_child(config: SearchConfig, deadline: float | None, threads: int, index: int) -> None:
    try:
        work(config, deadline, threads, index)
    except ValueError as err:
        raise SystemExit(f"cnnzoo nas search: error: {err}") from None


def search(config: SearchConfig, progress: Callable[[dict], None] | None = None) -> dict:
    """Run the search to its budget with ``config.workers`` processes, then write the outputs.

    Args:
        config: the search.
        progress: called every few seconds with :func:`status` while workers run.

    Returns:
        :func:`write_outputs`' summary.
    """
    study = open_study(config)  # fail here, in one line, before any worker starts
    reclaim_dead_local(study)
    Path(config.out).mkdir(parents=True, exist_ok=True)
    deadline = time.time() + 60 * config.budget_minutes if config.budget_minutes else None
    cores = os.cpu_count() or 1
    threads = max(1, cores // config.workers)
    started = time.time()
    if config.workers == 1:
        work(config, deadline, threads, 0, on_trial=progress and (
            lambda: progress(status(study, config.budget_candidates, started))))  # fmt: skip
    else:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle spinning starves the others
        context = multiprocessing.get_context("spawn")
        procs = [context.Process(target=_work_in_child, args=(config, deadline, threads, i))
                 for i in range(config.workers)]  # fmt: skip
        for p in procs:
            p.start()
        try:
            while any(p.is_alive() for p in procs):
                if progress:
                    progress(status(study, config.budget_candidates, started))
                for p in procs:
                    p.join(timeout=POLL_S / len(procs))
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
        failed = [p.exitcode for p in procs if p.exitcode]
        if failed and budget_state(study, config.budget_candidates) != "done" and not deadline:
            raise ValueError(f"{len(failed)} worker(s) stopped with exit codes {failed}")
    if progress:
        progress(status(study, config.budget_candidates, started))
    return write_outputs(study, config)


def status(study, budget: int, started: float) -> dict:
    """Where the search stands: COMPLETE, RUNNING, best score, candidates per minute."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    minutes = max(1e-9, (time.time() - started) / 60)
    recent = [t for t in done if t.datetime_complete and t.datetime_complete.timestamp() >= started]
    return {
        "complete": len(done), "budget": budget,
        "running": counts(study).get("RUNNING", 0),
        "best": max((t.values[0] for t in done), default=None),
        "per_minute": len(recent) / minutes,
    }  # fmt: skip


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
        rows.append({
            "number": trial.number, "strategy": config.strategy, "seed": config.seed,
            "index": index if complete else "", "state": trial.state.name,
            "score": trial.values[0] if complete else None, "val_loss": attrs.get("val_loss"),
            "macs": attrs.get("macs"), "params": attrs.get("params"),
            "train_s": attrs.get("train_s"), "images_per_s": attrs.get("images_per_s"),
            "seconds": attrs.get("seconds"), "worker": attrs.get("worker"),
            "retry_of": RetryHeartbeatStaleTrialCallback.retried_trial_number(trial),
            "genotype": json.dumps(genotype, separators=(",", ":")) if genotype else "",
        })  # fmt: skip
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
        "study": config.study_name, "storage": config.storage_url, "strategy": config.strategy,
        "complete": len(complete), "budget": config.budget_candidates,
        "failed": sum(r["state"] == "FAIL" for r in rows), "out": str(out),
    }  # fmt: skip
    if not complete:
        return summary
    draw.save_search_curve(out / "search_curve.png", complete,
                           title=f"{config.strategy}, {config.dataset}")  # fmt: skip
    best = max(complete, key=lambda r: (r["score"], -r["number"]))
    genotype = Genotype.from_dict(json.loads(best["genotype"]))
    write_text_atomic(out / "best_genotype.json", genotype.to_json(indent=2) + "\n")
    draw.save_genotype(genotype, out / "best_cell")
    front = front_entries(complete)
    write_text_atomic(out / "pareto.json", json.dumps(front, indent=1) + "\n")
    draw.save_pareto_front(out / "pareto_front.png", complete,
                           title=f"{config.strategy}, {config.dataset}: validation top-1 "
                           "against MACs")  # fmt: skip
    summary.update(
        best_score=best["score"], best_number=best["number"], best_macs=best["macs"],
        best_params=best["params"], pareto=len(front),
        minutes=sum(r["seconds"] or 0 for r in complete) / 60,
        mean_candidate_s=sum(r["seconds"] or 0 for r in complete) / len(complete),
    )  # fmt: skip
    if not math.isfinite(summary["best_score"]):
        summary["best_score"] = None
    return summary
