"""The progress line the tools share: a ``(description, completed, total)`` callback drawn by
``rich`` on standard error (training runs have their own reporters, ``cnnzoo.train.progress``)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

Progress = Callable[[str, int, int], None]  # (description, completed, total)


@contextlib.contextmanager
def rich_progress(title: str) -> Iterator[Progress]:
    """A :data:`Progress` callback drawing a transient rich bar on stderr, titled ``title`` (on a
    terminal only: logs get no bar and no blank line)."""
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    console = Console(file=sys.stderr)
    bar = Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with bar:
        task = bar.add_task(title, total=1)

        def update(description: str, completed: int, total: int) -> None:
            bar.update(task, description=description, completed=completed, total=total)

        yield update
