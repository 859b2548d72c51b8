"""Top-k accuracy, the confusion matrix, and the per-epoch metrics files (CSV, TensorBoard).

Accuracies are fractions in [0, 1]. Top-k follows ILSVRC: a prediction is right when the true
class is among the ``k`` highest scores (Russakovsky et al. 2015, Sec. 4.1).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import torch

# One row per epoch in metrics.csv, in this order.
METRICS_COLUMNS = (
    "epoch",
    "train_loss",
    "train_top1",
    "test_loss",
    "test_top1",
    "test_top5",
    "lr",
    "seconds",
    "images_per_s",
)


def topk_correct(scores: torch.Tensor, labels: torch.Tensor, ks: Sequence[int]) -> torch.Tensor:
    """How many rows of ``scores`` have their label among their ``k`` highest, for each ``k``.

    Args:
        scores: N x C logits or log-probabilities.
        labels: N int64 class indices.
        ks: the ``k`` values; each is capped at C.

    Returns:
        A float64 tensor with one count per ``k``, on ``scores``' device.
    """
    top = scores.topk(min(max(ks), scores.shape[1]), dim=1).indices  # N x kmax
    hits = top.eq(labels[:, None])
    return torch.stack([hits[:, : min(k, scores.shape[1])].any(1).sum() for k in ks]).double()


def confusion_matrix(
    predictions: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """``C x C`` int64 counts: row = true class, column = predicted class."""
    flat = labels * num_classes + predictions
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def per_class_accuracy(confusion: torch.Tensor) -> list[float | None]:
    """Recall of each class (diagonal over row sums); ``None`` for a class with no sample."""
    totals = confusion.sum(1).tolist()
    hits = confusion.diagonal().tolist()
    return [h / t if t else None for h, t in zip(hits, totals, strict=True)]


def format_row(row: dict) -> dict:
    """A metrics row with its floats rounded for the CSV (6 significant digits)."""
    return {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}


def write_metrics_csv(path: str | Path, rows: Sequence[dict]) -> None:
    """Write ``rows`` (dicts with the :data:`METRICS_COLUMNS` keys) as ``path``, whole.

    The file is rewritten from the run's history every epoch, so a resumed run never holds rows of
    epochs its checkpoint does not include; a failed write (``OSError``) leaves the previous file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=METRICS_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(format_row(row) for row in rows)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)  # gone after the rename; left by a failed write


def read_metrics_csv(path: str | Path) -> list[dict]:
    """The rows of a metrics.csv, numbers parsed (``epoch`` as int, the rest as float)."""
    with Path(path).open(newline="") as f:
        return [
            {k: int(v) if k == "epoch" else float(v) for k, v in row.items()}
            for row in csv.DictReader(f)
        ]


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
