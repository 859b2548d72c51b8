"""Checkpoints that hold only tensors and plain data, written atomically, read with weights_only.

A checkpoint is a ``dict`` of tensors, numbers, strings, lists, tuples and dicts -- never a pickled
Python object -- so :func:`load_checkpoint` can read it with ``torch.load(weights_only=True)`` and a
file that smuggles in any other object is refused. It records everything ``eval`` and ``predict``
need without further flags: the model's name and keyword arguments, and the dataset's class names,
normalisation and input size.

Keys of a checkpoint (format ``FORMAT``, version ``VERSION``):

- ``model_name``, ``model_kwargs``: rebuild with ``create_model(model_name, **model_kwargs)``.
- ``dataset``: ``name``, ``num_classes``, ``in_chans``, ``image_size``, ``input_size``,
  ``class_names``, ``mean``, ``std``, ``data_dir``.
- ``model``: the state dict (of the bare model: no DDP ``module.`` or ``torch.compile`` prefix).
- ``config``, ``recipe``: the resolved training configuration (plain dicts).
- Training state (``last.pt`` only): ``optimizer``, ``scheduler``, ``scaler``, ``epoch`` (epochs
  completed), ``step`` (steps done in the epoch in progress), ``global_step``, ``partial`` (the
  running sums of that epoch), ``history`` (the metrics rows so far), ``best_top1``, ``rng``.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnzoo.reading import UnsafeInput, regular_file

FORMAT = "cnnzoo-checkpoint"
VERSION = 1
CHECKPOINT_SUFFIXES = (".pt", ".pth")
REQUIRED_KEYS = ("format", "version", "model_name", "model_kwargs", "dataset", "model")


class CheckpointError(ValueError):
    """A checkpoint cannot be written, or is missing, unreadable, carries pickled objects, or
    lacks a required key."""


class RecordingWriter:
    """A binary file's ``write``, keeping the first ``OSError`` it raised: ``torch.save`` turns
    such an error into a ``RuntimeError`` ("unexpected pos ...") that no longer says what
    happened."""

    def __init__(self, file) -> None:
        self.file = file
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except OSError as err:
            self.error = self.error or err
            raise

    def flush(self) -> None:
        self.file.flush()


def os_error_text(err: OSError) -> str:
    """``[Errno 28] No space left on device``: the error without the (temporary) file name."""
    return f"[Errno {err.errno}] {err.strerror}" if err.errno is not None else str(err)


def write_failure(path: Path, err: OSError, *, replaced: bool) -> str:
    """The one-line message of a failed :func:`save_checkpoint`: the file, the OS error, and what
    is on disk now."""
    if replaced:
        return (
            f"checkpoint {path} is written but its folder cannot be synced to disk: "
            f"{os_error_text(err)}"
        )
    kept = f"the previous {path.name} is intact" if path.is_file() else f"no {path.name} exists yet"
    return f"cannot write checkpoint {path}: {os_error_text(err)}; {kept}"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder, flushed and
    fsync'ed, then renamed over ``path`` (``os.replace``), so a crash at any moment leaves either
    the old file or the new one, never a torn one. A failed write (a full disk, no permission)
    removes the temporary file and leaves the previous ``path`` as it was.

    Args:
        path: the destination, e.g. ``runs/x/last.pt``.
        state: tensors and plain data only (see the module docstring).

    Raises:
        CheckpointError: the file could not be written; the message names it and the OS error,
            e.g. ``cannot write checkpoint runs/x/last.pt: [Errno 28] No space left on device;
            the previous last.pt is intact``.
    """
    path = Path(path)
    tmp: str | None = None
    replaced = False
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            writer = RecordingWriter(f)
            try:
                torch.save({"format": FORMAT, "version": VERSION, **state}, writer)
            except RuntimeError:
                if writer.error is None:
                    raise
                raise writer.error from None
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        replaced = True
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
    except OSError as err:
        raise CheckpointError(write_failure(path, err, replaced=replaced)) from None
    finally:
        if tmp is not None and not replaced:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def is_checkpoint(source: str) -> bool:
    """A ``MODEL|CHECKPOINT`` argument that names a checkpoint file rather than a registry name."""
    return Path(source).suffix in CHECKPOINT_SUFFIXES or Path(source).is_file()


def read_tensors(path: str | Path, what: str) -> Any:
    """What a tensors-only file holds, read with ``torch.load(weights_only=True)`` onto the CPU:
    the one place a checkpoint or a weights file is loaded.

    Args:
        path: the file.
        what: how messages name it (``"checkpoint"``, ``"weights file"``).

    Raises:
        CheckpointError: a missing file, one that is not a regular file (a FIFO would block), a
            file that carries pickled Python objects (refused, never executed), or one that
            cannot be read.
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise CheckpointError(f"{what} {str(path)!r} does not exist")
    try:
        regular_file(path)
    except UnsafeInput as err:
        raise CheckpointError(f"{what} {err}") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        culprit = next((ln for ln in lines if "GLOBAL" in ln or "Unsupported global" in ln), None)
        if culprit:
            raise CheckpointError(
                f"{what} {str(path)!r} is refused: it carries pickled Python objects "
                f"({culprit}); cnnzoo loads only tensors and plain data (torch.load with "
                "weights_only=True, a tensors-only checkpoint)"
            ) from None
        reason = next((ln for ln in lines if ln.startswith("Unsupported")), None)
        reason = reason or (lines[0] if lines else type(err).__name__)
        raise CheckpointError(
            f"{what} {str(path)!r} cannot be read as a PyTorch checkpoint: {reason}"
        ) from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a cnnzoo checkpoint (:func:`read_tensors`) and check it is one.

    Args:
        path: a file written by :func:`save_checkpoint`.

    Returns:
        The checkpoint's dict.

    Raises:
        CheckpointError: missing or unreadable file, a file that carries pickled Python objects
            (refused, never executed), or one that is not a cnnzoo checkpoint.
    """
    state = read_tensors(path, "checkpoint")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(path)!r} is not a cnnzoo checkpoint (no 'format': {FORMAT!r} entry); "
            "train one with `cnnzoo train`"
        )
    if state.get("version", 0) > VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {state['version']}, newer than this "
            f"cnnzoo reads ({VERSION})"
        )
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks {', '.join(missing)}")
    return state


def rng_state() -> dict[str, Any]:
    """Every random number generator this process may draw from, as tensors and plain data."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def bare_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of the model inside DDP and ``torch.compile`` wrappers."""
    inner = getattr(model, "module", model)  # DistributedDataParallel
    inner = getattr(inner, "_orig_mod", inner)  # torch.compile
    return inner.state_dict()
