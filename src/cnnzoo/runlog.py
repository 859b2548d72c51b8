"""A training run's ``metrics.csv``: one row per finished epoch, written whole by the engine after
each epoch and read back by whoever shows a run (``report``, the tests).

Its columns are :data:`METRICS_COLUMNS`, in that order; floats are written with 6 significant
digits. The file's writer and its reader are here, side by side.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

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


def read_metrics(text: str) -> list[dict]:
    """The rows of a ``metrics.csv``'s text, numbers parsed (``epoch`` as int, the rest as float;
    an empty cell as ``None``).

    Raises:
        ValueError: text that is not CSV, or a cell that is not a number (one line naming its row
            and column).
    """
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise ValueError(f"not readable CSV ({err})") from None
    parsed = []
    for line, row in enumerate(rows, start=2):
        values = {}
        for key, value in row.items():
            try:
                values[key] = (
                    None if value in ("", None) else (int if key == "epoch" else float)(value)
                )
            except (TypeError, ValueError):
                raise ValueError(
                    f"line {line}, column {key!r}: {value!r} is not a number"
                ) from None
        parsed.append(values)
    return parsed


def read_metrics_csv(path: str | Path) -> list[dict]:
    """The rows of the ``metrics.csv`` at ``path`` (:func:`read_metrics`)."""
    return read_metrics(Path(path).read_text())
