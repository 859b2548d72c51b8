"""The run folder: where it is, what it holds, and how a run resumes from it.

``runs/<model>-<dataset>-<time>/`` holds ``config.json`` (the resolved configuration, the recipe and
the environment), ``metrics.csv`` (one row per epoch), TensorBoard event files, ``last.pt`` (the
whole training state, also written every ``--checkpoint-every`` steps) and ``best.pt`` (the weights
of the epoch with the best test top-1). Only rank 0 writes.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from cnnzoo.train import distributed
from cnnzoo.train.checkpoint import bare_state_dict, rng_state, save_checkpoint, set_rng_state
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.distributed import DistInfo
from cnnzoo.train.metrics import TensorBoardLog, write_metrics_csv

# Flags a resumed run may change: where it reads and writes, how often it saves.
FREE_ON_RESUME = ("resume", "out", "data_dir", "checkpoint_every")


def choose_run_dir(config: TrainConfig, dist: DistInfo) -> Path:
    """The run folder: ``--out``, the newest matching run for ``--resume``, or a new one.

    Raises:
        ValueError: ``--resume`` without a ``last.pt``, or a new run in a folder holding one.
    """
    stem = f"{config.model}-{config.dataset}"
    if config.out:
        run_dir = Path(config.out)
    elif config.resume:
        runs = sorted(Path("runs").glob(f"{stem}-*/last.pt"), key=lambda p: p.stat().st_mtime)
        if not runs:
            raise ValueError(f"--resume: no run of {stem} with a last.pt in runs/; give --out DIR")
        run_dir = runs[-1].parent
    else:
        run_dir = Path("runs", f"{stem}-{datetime.now():%Y%m%d-%H%M%S}")
        suffix = 1
        while run_dir.exists():
            suffix += 1
            run_dir = run_dir.with_name(f"{stem}-{datetime.now():%Y%m%d-%H%M%S}-{suffix}")
    run_dir = Path(distributed.broadcast_string(str(run_dir), dist))  # rank 0's clock
    if config.resume and not (run_dir / "last.pt").is_file():
        raise ValueError(f"--resume: {run_dir / 'last.pt'} does not exist")
    if not config.resume and (run_dir / "last.pt").exists():
        raise ValueError(
            f"{run_dir} already holds a run (last.pt); add --resume to continue it, or choose "
            "another --out"
        )
    return run_dir


def check_resume_config(saved: dict, config: TrainConfig) -> None:
    """A resumed run must have the saved configuration (but for :data:`FREE_ON_RESUME`)."""
    now = dataclasses.asdict(config)
    differ = [
        f"--{k.replace('_', '-')} {now[k]!r} (saved {saved.get(k)!r})"
        for k in now
        if k not in FREE_ON_RESUME and saved.get(k) != now[k]
    ]
    if differ:
        raise ValueError(
            "--resume continues the saved configuration, but these flags differ: "
            + ", ".join(differ)
        )


@dataclasses.dataclass(frozen=True)
class ResumePoint:
    """Where a run starts: epoch and step, the epoch's running sums, the history so far."""

    epoch: int = 0
    step: int = 0
    partial: dict | None = None
    history: tuple[dict, ...] = ()
    best_top1: float = -1.0

    @classmethod
    def from_checkpoint(cls, ckpt: dict | None) -> ResumePoint:
        if ckpt is None:
            return cls()
        return cls(ckpt["epoch"], ckpt["step"], ckpt["partial"], tuple(ckpt["history"]),
                   ckpt["best_top1"])  # fmt: skip


def restore(ckpt: dict, model, optimizer, scheduler, scaler, dist: DistInfo) -> None:
    """Load a ``last.pt`` into freshly built pieces, random generators included."""
    model.load_state_dict(ckpt["model"], strict=True)
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"])
    ranks = ckpt["rng"].get("torch_ranks", [])
    if len(ranks) == dist.world_size:  # each rank its own generator (dropout masks)
        torch.set_rng_state(ranks[dist.rank])


def environment(dist: DistInfo) -> dict[str, Any]:
    """Where a run ran, saved in config.json beside the configuration."""
    if dist.device.type == "cuda":
        name = torch.cuda.get_device_name(dist.device)
    else:
        name = platform.processor() or platform.machine()
    return {
        "device": str(dist.device),
        "device_name": name,
        "world_size": dist.world_size,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


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
        """Create the folder, write config.json, open the TensorBoard log."""
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            config = {**self.meta["config"], "recipe": self.meta["recipe"],
                      "environment": environment(self.dist)}  # fmt: skip
            (self.run_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
            self.tensorboard = TensorBoardLog(self.run_dir, purge_step)

    def save_last(self, model, optimizer, scheduler, scaler, *, progress: dict) -> None:
        """Write ``last.pt``: the weights, the optimizer, schedule and scaler states, every random
        generator (each rank's torch generator is gathered) and ``progress``."""
        ranks = distributed.gather_tensors(torch.get_rng_state(), self.dist)
        if not self.dist.is_main:
            return
        state = {
            **self.meta,
            "model": bare_state_dict(model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": {**rng_state(), "torch_ranks": ranks},
            **progress,
        }
        save_checkpoint(self.run_dir / "last.pt", state)

    def save_best(self, model, *, epoch: int, row: dict) -> None:
        """Write ``best.pt``: the weights and what eval/predict need, no training state."""
        if self.dist.is_main:
            state = {**self.meta, "model": bare_state_dict(model), "epoch": epoch, "metrics": row}
            save_checkpoint(self.run_dir / "best.pt", state)

    def write_metrics(self, history: list[dict], global_step: int | None = None) -> None:
        """Rewrite metrics.csv from ``history``; log its last row to TensorBoard at
        ``global_step`` if given."""
        if not self.dist.is_main:
            return
        write_metrics_csv(self.run_dir / "metrics.csv", history)
        if global_step is not None and self.tensorboard is not None:
            self.tensorboard.epoch(history[-1], global_step)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
