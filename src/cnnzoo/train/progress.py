"""What a training run shows while it runs: a live bar on a terminal, plain lines in logs and CI.

Three reporters share one interface (``epoch_start``, ``step``, ``epoch_end``, ``message``,
``close``): :class:`RichReporter` (a ``rich`` progress bar with loss, accuracy, images/s and ETA),
:class:`PlainReporter` (a line every ``interval`` seconds and one per epoch) and
:class:`SilentReporter` (ranks other than 0). :func:`make_reporter` picks one, by the rule the
other tools' progress bars follow (:func:`cnnzoo.progress.interactive`). They are richer than the
tools' ``(description, completed, total)`` protocol (:data:`cnnzoo.progress.Progress`) because a
step carries its loss, accuracy and speed, and an epoch ends with its metrics line.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from cnnzoo.progress import interactive


def epoch_line(row: dict, epochs: int) -> str:
    """One line summing up an epoch's metrics row."""
    return (
        f"epoch {row['epoch']:>{len(str(epochs))}}/{epochs}  "
        f"train loss {row['train_loss']:.4f} top-1 {row['train_top1']:.2%}  "
        f"test loss {row['test_loss']:.4f} top-1 {row['test_top1']:.2%} "
        f"top-5 {row['test_top5']:.2%}  lr {row['lr']:.3g}  "
        f"{row['seconds']:.1f} s  {row['images_per_s']:,.0f} img/s"
    )


def train_line(epoch: int, epochs: int, stats: dict) -> str:
    """One line summing up an epoch that is not evaluated (``--eval-every``)."""
    return (
        f"epoch {epoch:>{len(str(epochs))}}/{epochs}  "
        f"train loss {stats['loss']:.4f} top-1 {stats['top1']:.2%}  (not evaluated)  "
        f"lr {stats['lr']:.3g}  {stats['seconds']:.1f} s  {stats['images_per_s']:,.0f} img/s"
    )


class SilentReporter:
    """Shows nothing (the processes other than rank 0)."""

    def epoch_start(self, epoch: int, epochs: int, total: int, start_step: int) -> None:
        pass

    def step(self, step: int, loss: float, top1: float, images_per_s: float) -> None:
        pass

    def epoch_end(self, row: dict) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class PlainReporter(SilentReporter):
    """Plain lines for logs: progress at most every ``interval`` seconds, one line per epoch."""

    def __init__(self, stream: TextIO | None = None, interval: float = 30.0) -> None:
        self.stream = stream or sys.stdout
        self.interval = interval
        self.epochs = self.total = 0
        self.last = 0.0

    def epoch_start(self, epoch: int, epochs: int, total: int, start_step: int) -> None:
        self.epochs, self.total, self.last = epochs, total, time.monotonic()
        if start_step:
            self.message(f"epoch {epoch + 1}/{epochs}: resuming at step {start_step}/{total}")

    def step(self, step: int, loss: float, top1: float, images_per_s: float) -> None:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.message(
                f"  step {step}/{self.total}  loss {loss:.4f}  top-1 {top1:.2%}  "
                f"{images_per_s:,.0f} img/s"
            )

    def epoch_end(self, row: dict) -> None:
        self.message(epoch_line(row, self.epochs))

    def message(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class RichReporter(SilentReporter):
    """A live ``rich`` progress bar per epoch (loss, top-1, images/s, ETA) on a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(file=stream or sys.stdout)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "loss {task.fields[loss]:.4f}  top-1 {task.fields[top1]:.2%}  "
                "{task.fields[speed]:,.0f} img/s"
            ),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.task = None
        self.epochs = 0

    def epoch_start(self, epoch: int, epochs: int, total: int, start_step: int) -> None:
        self.epochs = epochs
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(
            f"epoch {epoch + 1}/{epochs}",
            total=total,
            completed=start_step,
            loss=0.0,
            top1=0.0,
            speed=0.0,
        )

    def step(self, step: int, loss: float, top1: float, images_per_s: float) -> None:
        self.progress.update(self.task, completed=step, loss=loss, top1=top1, speed=images_per_s)

    def epoch_end(self, row: dict) -> None:
        self.message(epoch_line(row, self.epochs))

    def message(self, text: str) -> None:
        self.progress.console.print(text, highlight=False, soft_wrap=True)

    def close(self) -> None:
        self.progress.stop()


REPORTERS = {"rich": RichReporter, "plain": PlainReporter, "silent": SilentReporter}


def reporter_kind(is_main: bool, stream: TextIO | None = None) -> str:
    """``silent`` off rank 0, ``rich`` on an interactive terminal, ``plain`` otherwise (pipes,
    files, CI: the ``CI`` variable set, or ``TERM=dumb``; :func:`cnnzoo.progress.interactive`)."""
    if not is_main:
        return "silent"
    return "rich" if interactive(stream or sys.stdout) else "plain"


def make_reporter(is_main: bool, stream: TextIO | None = None):
    """The reporter for this process (see :func:`reporter_kind`)."""
    kind = reporter_kind(is_main, stream)
    return REPORTERS[kind]() if kind == "silent" else REPORTERS[kind](stream)
