"""The one progress protocol of the tools: a :data:`Progress` callback, called as
``progress(description, completed, total)`` as long work goes on (``bench``, ``export``,
``embed``, ``nas search``, ``report``), and the displays that take it:

* :func:`rich_progress` -- a transient ``rich`` bar on standard error, on an interactive terminal
  only (logs get no bar and no blank line);
* :func:`line_progress` -- one plain line per call, for output that is read as a log;
* :func:`silent` -- nothing.

A tool's core takes a ``Progress`` (or ``None``) and never draws; its command picks the display.
:func:`interactive` is the one rule for "is this a terminal a bar may be drawn on", which the
training engine's richer per-step reporters (:mod:`cnnzoo.train.progress`) follow too.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

Progress = Callable[[str, int, int], None]  # (description, completed, total)


def silent(description: str, completed: int, total: int) -> None:
    """A :data:`Progress` that shows nothing."""


def interactive(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal to draw a live bar on: a TTY, outside CI (the ``CI``
    variable unset) and not ``TERM=dumb``."""
    isatty = getattr(stream, "isatty", None)
    return bool(
        isatty and isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"
    )


@contextlib.contextmanager
def rich_progress(title: str, stream: TextIO | None = None) -> Iterator[Progress]:
    """A :data:`Progress` drawing a transient rich bar titled ``title`` on ``stream`` (default:
    standard error), when it is :func:`interactive`; otherwise it shows nothing."""
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    stream = stream or sys.stderr
    bar = Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=True,
        disable=not interactive(stream),
    )
    with bar:
        task = bar.add_task(title, total=1)

        def update(description: str, completed: int, total: int) -> None:
            bar.update(task, description=description, completed=completed, total=total)

        yield update


def line_progress(title: str, write: Callable[[str], None]) -> Progress:
    """A :data:`Progress` that calls ``write`` with one line per call,
    ``TITLE: COMPLETED/TOTAL DESCRIPTION`` (``nas search: 3/20 candidates, 2 running, ...``).
    The caller decides how often: every call is a line."""

    def show(description: str, completed: int, total: int) -> None:
        write(f"{title}: {completed}/{total} {description}".rstrip())

    return show
