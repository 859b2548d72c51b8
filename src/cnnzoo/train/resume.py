"""Resuming a run: ``cnnzoo train ... --resume`` continues the run in ``--out`` (default: the
newest run of that model and dataset in ``runs/``) from its ``last.pt``.

In the order a run takes them:

1. :func:`cnnzoo.train.rundir.choose_run_dir` takes ``--out`` or finds the newest run, and
   checks that it holds a ``last.pt``, before any data is loaded;
2. once the job is built, :func:`resume_run` reads ``last.pt``, checks that the configuration is
   the saved one (:func:`check_resume_config`; the flags of :data:`FREE_ON_RESUME` may differ),
   restores every piece of state into the fresh job (:func:`restore`) and returns the
   :class:`ResumePoint` the epochs go on from.

A checkpoint holds the weights, the optimizer, schedule and scaler states, every random generator
and the running sums of the epoch in progress, so a resumed run ends with the same weights as one
never interrupted (bitwise on CPU with ``--deterministic``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch

from cnnzoo.checkpoint import load_checkpoint, set_rng_state
from cnnzoo.distributed import DistInfo
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.rundir import LAST

if TYPE_CHECKING:
    from cnnzoo.train.build import Job

# Flags a resumed run may change: where it reads and writes, how often it saves.
FREE_ON_RESUME = ("resume", "out", "data_dir", "checkpoint_every")


def check_resume_config(saved: dict, config: TrainConfig) -> None:
    """A resumed run must have the saved configuration (but for :data:`FREE_ON_RESUME`).

    Args:
        saved: the ``config`` entry of ``last.pt``.
        config: the resolved configuration of the resuming run.

    Raises:
        ValueError: naming every flag that differs, with its saved value.
    """
    now = dataclasses.asdict(config)
    differ = [  # a flag newer than the run was not used by it: its default is what it did
        f"--{k.replace('_', '-')} {now[k]!r} (saved {saved.get(k)!r})"
        for k in now
        if k not in FREE_ON_RESUME and saved.get(k, now[k]) != now[k]
    ]
    if differ:
        raise ValueError(
            "--resume continues the saved configuration, but these flags differ: "
            + ", ".join(differ)
        )


@dataclasses.dataclass(frozen=True)
class ResumePoint:
    """Where a run starts: epoch and step, the epoch's running sums (over all ranks), the history
    so far and the best test top-1; the defaults are a fresh run's."""

    epoch: int = 0
    step: int = 0
    partial: dict | None = None
    history: tuple[dict, ...] = ()
    best_top1: float = -1.0

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> ResumePoint:
        return cls(
            ckpt["epoch"], ckpt["step"], ckpt["partial"], tuple(ckpt["history"]), ckpt["best_top1"]
        )

    def global_step(self, steps_per_epoch: int) -> int:
        """Steps done before this point."""
        return self.epoch * steps_per_epoch + self.step


def restore(ckpt: dict, model, optimizer, scheduler, scaler, dist: DistInfo, average=None) -> None:
    """Load a ``last.pt`` into freshly built pieces, random generators included.

    Args:
        ckpt: the checkpoint.
        model: the bare network (no DDP or compile wrapper).
        optimizer, scheduler, scaler: built as for a fresh run.
        dist: this process's place (each rank gets its own torch generator back when the run had
            as many processes).
        average: the run's ``AveragedModel`` (``--ema-decay``), or ``None``.
    """
    if average is None:
        model.load_state_dict(ckpt["model"], strict=True)
    else:
        model.load_state_dict(ckpt["training_model"], strict=True)
        average.module.load_state_dict(ckpt["model"], strict=True)
        average.n_averaged.fill_(ckpt["average_updates"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"])
    ranks = ckpt["rng"].get("torch_ranks", [])
    if len(ranks) == dist.world_size:  # each rank its own generator (dropout masks)
        torch.set_rng_state(ranks[dist.rank])


def resume_run(job: Job) -> ResumePoint:
    """Continue ``job`` from its run folder's ``last.pt``: check the configuration, restore the
    state into the job's pieces.

    Args:
        job: the freshly built job (:func:`cnnzoo.train.build.prepare`).

    Returns:
        Where the run goes on.

    Raises:
        ValueError: an unreadable ``last.pt`` (:class:`~cnnzoo.checkpoint.CheckpointError`)
            or a configuration that differs from the saved one.
    """
    ckpt = load_checkpoint(job.run_dir / LAST)
    check_resume_config(ckpt["config"], job.config)
    restore(
        ckpt, job.model, job.optimizer, job.scheduler, job.scaler, job.runtime.dist, job.average
    )
    return ResumePoint.from_checkpoint(ckpt)
