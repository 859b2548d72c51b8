"""``cnnzoo nas search``: a NASNet-space cell search whose whole state lives in an Optuna study.

A search is three parts, one module each: the study (:mod:`cnnzoo.nas.study`: the storage, the
strategy's sampler, the budget, the trials put back or re-queued), the workers
(:mod:`cnnzoo.nas.workers`: processes that train the candidates, and how they stop) and the
output folder (:mod:`cnnzoo.nas.outputs`: ``search.json``, ``history.csv``, ``pareto.json``, the
best cell and the figures). This module holds what a search is (:class:`SearchConfig`) and
:func:`search`, which runs the parts in turn.

Evolution and random search maximize the validation score alone; NSGA-II's study has two
objectives, the score and the MACs, and its result is their Pareto front. Every search writes its
front (``pareto.json``, ``pareto_front.png``, a ``pareto`` column in ``history.csv``): the cells
a user can pick from when the network must be small.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from cnnzoo.interrupt import catch_stop_signals
from cnnzoo.nas.outputs import COMMAND, LEGACY, write_outputs, write_record, writing_into
from cnnzoo.nas.proxy import Proxy, proxy_dict
from cnnzoo.nas.render import status_reporter
from cnnzoo.nas.space import OPERATION_NAMES, SearchSpace
from cnnzoo.nas.storage import storage_errors
from cnnzoo.nas.strategies import POPULATION, SAMPLE, STRATEGIES
from cnnzoo.nas.study import open_study_with_storage, reclaim_dead_local, status
from cnnzoo.nas.workers import run_workers, work
from cnnzoo.options import NESTED, check_choices, option
from cnnzoo.progress import Progress


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

    dataset: str = option("fashion-mnist", help="the dataset whose training split the proxy uses")
    data_dir: str | None = option(
        None, help="folder with the dataset's files", default_help="the dataset's standard place"
    )
    strategy: str = option("evolution", help="", choices=STRATEGIES)
    budget_candidates: int = option(100, help="the study's total of candidates", metavar="K")
    budget_minutes: float | None = option(
        None,
        help="stop this command after M minutes (the study's budget stays)",
        metavar="M",
        default_help="no limit",
    )
    workers: int = option(1, help="processes here, each with cores/W threads", metavar="W")
    storage: str | None = option(
        None,
        help="give a password in PGPASSWORD or a password file, not in the URL "
        "(docs/nas-storage.md)",
        metavar="URL",
        default_help="sqlite:///<out>/search.db",
    )
    study: str | None = option(
        None, help="", metavar="NAME", default_help="<dataset>-<strategy>-seed<seed>"
    )
    seed: int = option(0, help="the draws, the held-out split and the proxy's training seed")
    out: str = option("runs/nas-search", help="", metavar="DIR")
    ops: tuple[str, ...] | None = option(
        None,
        help="the operations to search",
        metavar="OP,OP",
        parse=lambda text: tuple(op.strip() for op in text.split(",")),
        default_help=f"all {len(OPERATION_NAMES)}",
    )
    proxy: Proxy = field(default_factory=Proxy, metadata={NESTED: True})  # --proxy-* flags
    population: int = option(POPULATION, help="evolution's P, NSGA-II's population")
    sample: int = option(SAMPLE, help="evolution's S")
    force: bool = option(False, help="write into DIR even if it holds files cnnzoo did not write")

    def __post_init__(self) -> None:
        check_choices(self)
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


def search(config: SearchConfig, progress: Progress | None = None) -> dict:
    """Run the search to its budget with ``config.workers`` processes, then write the outputs.

    Args:
        config: the search.
        progress: told the candidates finished out of the budget, with those running, the best
            score and the rate (:func:`~cnnzoo.nas.render.status_reporter`), each time a
            candidate starts or finishes.

    Returns:
        :func:`~cnnzoo.nas.outputs.write_outputs`' summary.

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
        # fail here, in one line, before any worker starts
        study, storage = open_study_with_storage(config)
        out = folder.mark()
        with writing_into(out):
            write_record(out, config)
        with storage_errors(config.storage_url):
            reclaim_dead_local(study, storage)
            deadline = time.time() + 60 * config.budget_minutes if config.budget_minutes else None
            threads = max(1, (os.cpu_count() or 1) // config.workers)
            started = time.time()
            report = progress and status_reporter(
                progress, lambda: status(study, config.budget_candidates, started)
            )
            if config.workers == 1:
                work(config, deadline, threads, 0, stop, on_trial=report)
            else:
                run_workers(config, study, storage, deadline, threads, stop, report)
            if report:
                report()
            with writing_into(out):
                summary = write_outputs(study, config)
        with writing_into(out):
            write_record(out, config, summary)
        return summary
