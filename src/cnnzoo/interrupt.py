"""Stopping a command cleanly on SIGINT (Ctrl-C) and SIGTERM (``kill``, a job scheduler, torchrun):
one policy for every long command.

:func:`catch_stop_signals` installs handlers for the two signals for the duration of a command and
puts the previous handlers back when it ends. By default a signal raises :class:`Interrupted` at
once, SIGTERM as well as SIGINT, so that every ``finally`` on the way runs: a staged output folder
is removed (:mod:`cnnzoo.outdir`), a temporary file is deleted, a worker process is killed, and the
command's boundary (:func:`cnnzoo.failures.run_command`) prints one line saying what was kept.
Every command but ``train`` uses it so.

A training run defers the signal once it can save its state. What a signal does then depends on how
far the run is:

- while it is being prepared (joining the processes, loading the data, building the model,
  reading ``last.pt``), nothing of it can be saved yet: the signal raises :class:`Interrupted` at
  once, saying that nothing was trained;
- once :meth:`StopFlag.defer` is called (the engine calls it just before it opens the run
  folder), the signal only sets the flag. The engine finishes the step in progress (or the
  evaluation in progress), writes ``last.pt`` exactly as a scheduled checkpoint does, and raises
  :class:`Interrupted`; ``--resume`` then continues bitwise as if nothing had happened. With
  several processes the ranks agree on the step at which they stop (the flag travels with the
  loss check's all-reduce).

A second signal while a stop is pending changes nothing (torchrun forwards to its workers the
Ctrl-C they already got from the terminal); SIGKILL still ends a process at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A run stopped by SIGINT or SIGTERM.

    A ``BaseException``, as ``KeyboardInterrupt`` is, so that no ``except Exception`` on the way
    (a checkpoint reader, a data loader) takes it for an error of its own.

    Args:
        signum: the signal that stopped the run.
        reason: what happened, one line, e.g. ``"SIGINT at epoch 1/2, step 37/64: saved
            runs/x/last.pt"``.
        run_dir: the run folder, once chosen.
        resumable: whether the run folder's ``last.pt`` continues the run (``--resume``);
            false when nothing was trained in this process.
    """

    def __init__(
        self, signum: int, reason: str, *, run_dir: Path | None = None, resumable: bool = False
    ) -> None:
        super().__init__(reason)
        self.signum = signum
        self.run_dir = run_dir
        self.resumable = resumable

    @property
    def exit_code(self) -> int:
        """The shell's code for a process ended by the signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


def signal_name(signum: int) -> str:
    """``"SIGINT"`` for ``signal.SIGINT``."""
    return signal.Signals(signum).name


def stopped(signum: int) -> Interrupted:
    """The stop of a command by ``signum``, before anything of it was kept."""
    return Interrupted(signum, f"stopped by {signal_name(signum)}")


def stop_in_chain(err: BaseException) -> Interrupted | None:
    """The stop signal behind ``err``, if a library caught it and raised its own error instead
    (torch's exporters wrap whatever interrupts them); a ``KeyboardInterrupt`` counts as SIGINT."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        cause = todo.pop()
        if cause is None or id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, Interrupted):
            return cause
        if isinstance(cause, KeyboardInterrupt):
            return stopped(signal.SIGINT)
        todo += [cause.__cause__, cause.__context__]
    return None


def before_training(signum: int) -> Interrupted:
    """The stop of a run that had not trained a step yet when the signal came."""
    return Interrupted(
        signum,
        f"{signal_name(signum)} before the first training step: nothing was trained in "
        "this process",
    )


class StopFlag:
    """Which stop signal came first, if any: the state of one run's handlers (see the module
    docstring)."""

    def __init__(self, immediate: Callable[[int], Interrupted]) -> None:
        self.signum: int | None = None
        self.deferred = False
        self.immediate = immediate

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def defer(self) -> None:
        """From now on a signal only sets the flag; the engine stops at its next check."""
        self.deferred = True

    def handle(self, signum: int, frame) -> None:
        """The signal handler: note the first signal; before :meth:`defer`, stop at once."""
        if self.signum is not None:
            return
        self.signum = signum
        if not self.deferred:
            raise self.immediate(signum)


@contextlib.contextmanager
def catch_stop_signals(
    signals: tuple[int, ...] = STOP_SIGNALS, immediate: Callable[[int], Interrupted] = stopped
) -> Iterator[StopFlag]:
    """Handle ``signals`` with a fresh :class:`StopFlag` inside the ``with`` block.

    Only the main thread can install signal handlers; in any other thread the flag is returned
    but never set (the signals keep their handlers).

    Args:
        signals: the signals to catch.
        immediate: the exception a signal raises before :meth:`StopFlag.defer`.

    Yields:
        The run's flag.
    """
    flag = StopFlag(immediate)
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {}
    try:
        for signum in signals:
            previous[signum] = signal.signal(signum, flag.handle)
        yield flag
    finally:
        for signum, handler in previous.items():
            # None: a handler installed outside Python; the default is the closest we can restore.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
