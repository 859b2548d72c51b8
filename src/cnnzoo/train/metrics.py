"""A run's TensorBoard event files (its ``metrics.csv`` is :mod:`cnnzoo.runlog`'s).

Accuracies are fractions in [0, 1] (:mod:`cnnzoo.evaluate.loop` measures them).
"""

from __future__ import annotations

from pathlib import Path


class TensorBoardLog:
    """The run's TensorBoard event files: per-epoch scalars, and the training loss per step.

    Args:
        log_dir: the run folder.
        purge_step: on resume, the global step of the checkpoint; events logged after it by the
            interrupted process are dropped.
    """

    def __init__(self, log_dir: str | Path, purge_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter  # imports TensorBoard: only rank 0

        self.writer = SummaryWriter(str(log_dir), purge_step=purge_step)

    def step(self, global_step: int, loss: float, lr: float) -> None:
        self.writer.add_scalar("train/loss_step", loss, global_step)
        self.writer.add_scalar("train/lr", lr, global_step)

    def epoch(self, row: dict, global_step: int) -> None:
        for key in ("train_loss", "train_top1", "test_loss", "test_top1", "test_top5"):
            split, name = key.split("_", 1)
            self.writer.add_scalar(f"{split}/{name}", row[key], global_step)
        self.writer.add_scalar("speed/images_per_s", row["images_per_s"], global_step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
