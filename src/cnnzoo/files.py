"""Writing a file so that a reader never sees half of it: a temporary file beside the destination,
flushed to disk, then renamed over it. The tools' outputs (exported models, benchmark records,
charts) go through :func:`write_atomic`; checkpoints have their own writer with the error
reporting a training run needs (``cnnzoo.checkpoint``)."""

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


def check_output_file(path: str | Path, option: str = "--out") -> Path:
    """Refuse, in one line and before any work, an output file that cannot be written as one:
    a folder, a FIFO or device, or a path under a file.

    Args:
        path: the file to write.
        option: the flag that named it, for the message.

    Raises:
        ValueError: ``path`` cannot be an output file.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"{option} {path} is a folder; give a file name, such as {path / 'model.onnx'}"
        )
    if os.path.lexists(path) and not (path.is_symlink() or path.is_file()):
        raise ValueError(f"{option} {path} is not a regular file")
    for parent in path.parents:
        if os.path.lexists(parent):
            if not parent.is_dir():
                raise ValueError(f"{option} {path}: {parent} is a file, not a folder")
            break
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """:func:`write_atomic` of a text file."""
    return write_atomic(path, lambda tmp: tmp.write_text(text))
