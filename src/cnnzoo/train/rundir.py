"""The run folder: where it is, what it holds, and the policy that picks it -- a new folder, or the
one ``--resume`` continues, locked, checked -- (:func:`choose_run_dir`). Restoring the state saved
in it is :mod:`cnnzoo.train.resume`.

``runs/<model>-<dataset>-<time>/`` holds ``config.json`` (the resolved configuration, the recipe and
the environment), ``metrics.csv`` (one row per epoch), TensorBoard event files, ``last.pt`` (the
whole training state, also written every ``--checkpoint-every`` steps and when a run is stopped by
SIGINT or SIGTERM) and ``best.pt`` (the weights of the epoch with the best test top-1). Only rank 0
writes.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime
from pathlib import Path

import torch

from cnnzoo import distributed
from cnnzoo.checkpoint import bare_state_dict, os_error_text, rng_state, save_checkpoint
from cnnzoo.distributed import DistInfo
from cnnzoo.env import environment
from cnnzoo.outdir import FolderError, owned, write_marker
from cnnzoo.runlog import write_metrics_csv
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.metrics import TensorBoardLog

RUNS = Path("runs")  # where new runs go, relative to the working directory
LAST, BEST, CONFIG, METRICS = "last.pt", "best.pt", "config.json", "metrics.csv"
RUN_FILES = (CONFIG, METRICS, LAST, BEST)  # a run folder's own, from before output markers


def run_stem(config: TrainConfig) -> str:
    """``<model>-<dataset>``, the start of the run folders' names."""
    return f"{config.model}-{config.dataset}"


def new_run_dir(config: TrainConfig, runs: Path = RUNS, now: datetime | None = None) -> Path:
    """``--out``, or a new folder ``runs/<model>-<dataset>-<time>`` (``-2``, ``-3`` ... if taken).

    Args:
        config: the run's configuration.
        runs: the folder of the runs.
        now: the time in the name (default: now).
    """
    if config.out:
        return Path(config.out)
    stamp = f"{run_stem(config)}-{(now or datetime.now()):%Y%m%d-%H%M%S}"
    run_dir, suffix = runs / stamp, 1
    while run_dir.exists():
        suffix += 1
        run_dir = runs / f"{stamp}-{suffix}"
    return run_dir


def check_fresh(run_dir: Path) -> None:
    """A new run must not write over a run's ``last.pt``."""
    if (run_dir / LAST).exists():
        raise ValueError(
            f"{run_dir} already holds a run ({LAST}); add --resume to continue it, or choose "
            "another --out"
        )


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest parent that exists (``.`` or ``/`` at the latest).

    Raises:
        ValueError: a parent that cannot be looked at (no permission to search it).
    """
    for candidate in (path, *path.parents):
        try:
            candidate.stat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as err:
            raise ValueError(
                f"run folder {path}: cannot look at {candidate}: "
                f"{os_error_text(err)}; choose another --out"
            ) from None
        return candidate
    raise ValueError(f"run folder {path}: none of its parents exists; choose another --out")


def check_writable(run_dir: Path) -> None:
    """Raise a one-line ``ValueError`` unless ``run_dir`` is a folder this process may write in,
    or one it may create (its nearest existing parent is a writable folder).

    Args:
        run_dir: the run folder (``--out``).
    """
    existing = nearest_existing(run_dir)
    if not existing.is_dir():
        where = "is a file" if existing == run_dir else f"cannot be created: {existing} is a file"
        raise ValueError(f"run folder {run_dir} {where}, not a folder; choose another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "is not writable" if existing == run_dir else f"cannot be created in {existing}"
        raise ValueError(f"run folder {run_dir} {where} (permission denied); choose another --out")


def write_error(path: Path, err: OSError) -> ValueError:
    """The one-line error of a run-folder file that could not be written."""
    return ValueError(f"cannot write {path}: {os_error_text(err)}")


def latest_run(runs: Path, stem: str) -> Path:
    """The newest folder ``runs/<stem>-*`` that holds a ``last.pt`` (by the file's time).

    Args:
        runs: the folder of the runs (``runs``).
        stem: ``<model>-<dataset>``.

    Raises:
        ValueError: no such folder.
    """
    found = sorted(runs.glob(f"{stem}-*/{LAST}"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise ValueError(f"--resume: no run of {stem} with a {LAST} in {runs}/; give --out DIR")
    return found[-1].parent


def find_run_dir(config: TrainConfig, runs: Path = RUNS) -> Path:
    """The folder ``--resume`` continues: ``--out``, else the newest run of the model and dataset.

    Raises:
        ValueError: no ``--out`` and no run with a ``last.pt`` under ``runs``.
    """
    return Path(config.out) if config.out else latest_run(runs, run_stem(config))


def check_resumable(run_dir: Path) -> None:
    """Raise ``ValueError`` unless ``run_dir`` holds a ``last.pt``."""
    if not (run_dir / LAST).is_file():
        raise ValueError(f"--resume: {run_dir / LAST} does not exist")


def choose_run_dir(config: TrainConfig, dist: DistInfo, hold: contextlib.ExitStack) -> Path:
    """The run folder, checked before anything is loaded: the one ``--resume`` continues, or a
    new one; rank 0's choice on every rank. Rank 0 locks it (:func:`cnnzoo.outdir.owned`) for
    as long as ``hold`` lasts, so two runs never write into one folder.

    Raises:
        ValueError: a folder that is a file or cannot be written, one in use by another run or
            holding files cnnzoo did not write, ``--resume`` without a ``last.pt``, or a new run
            in a folder holding one.
    """
    run_dir = find_run_dir(config) if config.resume else new_run_dir(config)
    run_dir = Path(distributed.broadcast_string(str(run_dir), dist))  # rank 0's clock
    check_writable(run_dir)
    refused = ""
    if dist.is_main:
        try:
            hold.enter_context(owned(run_dir, "train", legacy=RUN_FILES))
        except FolderError as err:
            refused = str(err)
    refused = distributed.broadcast_string(refused, dist)  # every rank stops, not only rank 0
    if refused:
        raise ValueError(refused)
    if config.resume:
        check_resumable(run_dir)
    else:
        check_fresh(run_dir)
    return run_dir


class RunFiles:
    """The run folder's files; every method is a no-op off rank 0, except the collective
    :meth:`save_last`, which every rank must call.

    Args:
        run_dir: the folder.
        dist: this process's place.
        meta: what every checkpoint records (model name and kwargs, dataset, config, recipe).
    """

    def __init__(self, run_dir: Path, dist: DistInfo, meta: dict) -> None:
        self.run_dir, self.dist, self.meta = run_dir, dist, meta
        self.tensorboard: TensorBoardLog | None = None

    def open(self, purge_step: int | None) -> None:
        """Create the folder, write config.json, open the TensorBoard log.

        Raises:
            ValueError: the folder or config.json cannot be written.
        """
        if not self.dist.is_main:
            return
        env = {**environment(self.dist.device), "world_size": self.dist.world_size}
        config = {**self.meta["config"], "recipe": self.meta["recipe"], "environment": env}
        path = self.run_dir / CONFIG
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_marker(self.run_dir, "train")
            tmp = path.with_name(f".{CONFIG}.tmp")
            tmp.write_text(json.dumps(config, indent=2) + "\n")
            tmp.replace(path)
        except OSError as err:
            raise write_error(path, err) from None
        self.tensorboard = TensorBoardLog(self.run_dir, purge_step)

    def save_last(
        self, model, optimizer, scheduler, scaler, *, progress: dict, average=None
    ) -> None:
        """Write ``last.pt``: the weights, the optimizer, schedule and scaler states, every random
        generator (each rank's torch generator is gathered) and ``progress``.

        With ``average`` (the ``--ema-decay`` copy, an ``AveragedModel``), ``model`` holds the
        averaged weights -- the ones the run evaluates, as in ``best.pt`` -- and
        ``training_model`` and ``average_updates`` the trained ones and the updates averaged.
        """
        ranks = distributed.gather_tensors(torch.get_rng_state(), self.dist)
        if not self.dist.is_main:
            return
        weights = {"model": bare_state_dict(model)}
        if average is not None:
            weights = {
                "model": bare_state_dict(average.module),
                "training_model": weights["model"],
                "average_updates": int(average.n_averaged),
            }
        state = {
            **self.meta,
            **weights,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": {**rng_state(), "torch_ranks": ranks},
            **progress,
        }
        save_checkpoint(self.run_dir / LAST, state)

    def save_best(self, model, *, epoch: int, row: dict) -> None:
        """Write ``best.pt``: the weights and what eval/predict need, no training state."""
        if self.dist.is_main:
            state = {**self.meta, "model": bare_state_dict(model), "epoch": epoch, "metrics": row}
            save_checkpoint(self.run_dir / BEST, state)

    def write_metrics(self, history: list[dict], global_step: int | None = None) -> None:
        """Rewrite metrics.csv from ``history``; log its last row to TensorBoard at
        ``global_step`` if given."""
        if not self.dist.is_main:
            return
        try:
            write_metrics_csv(self.run_dir / METRICS, history)
        except OSError as err:
            raise write_error(self.run_dir / METRICS, err) from None
        if global_step is not None and self.tensorboard is not None:
            self.tensorboard.epoch(history[-1], global_step)

    def log_step(self, global_step: int, loss: float, lr: float) -> None:
        """Log one training step's loss and learning rate to TensorBoard (rank 0)."""
        if self.tensorboard is not None:
            self.tensorboard.step(global_step, loss, lr)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
