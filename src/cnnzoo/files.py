"""Writing a file so that a reader never sees half of it: a temporary file beside the destination,
flushed to disk, then renamed over it. The tools' outputs (exported models, benchmark records,
charts) go through :func:`write_atomic`; checkpoints have their own writer with the error
reporting a training run needs (``cnnzoo.train.checkpoint``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

READABLE = 0o644  # mkstemp creates 0600; an output file is for everyone to read


def write_atomic(path: str | Path, write: Callable[[Path], None], *, mode: int = READABLE) -> Path:
    """Call ``write(tmp)`` for a temporary file beside ``path``, then rename it to ``path``.

    Args:
        path: the final file (its folder is created if missing).
        write: writes the whole file at the path it is given.
        mode: the permissions of the final file.

    Returns:
        ``path`` as a :class:`Path`. On any error the temporary file is removed and ``path`` is
        left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """:func:`write_atomic` of a text file."""
    return write_atomic(path, lambda tmp: tmp.write_text(text))
