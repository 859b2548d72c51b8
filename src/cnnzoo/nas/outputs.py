"""The output folder of a ``cnnzoo nas search``: its files, written here and read back here.

``search.json`` (:func:`write_record`, :func:`read_record`) says what made the folder
(configuration with the storage URL masked, versions, commit) and, once the search ends, its
summary. ``history.csv`` (:func:`history_rows`, :func:`read_history`) has one row per candidate in
trial order, with a ``pareto`` column: whether a finished candidate is on the front of validation
score and MACs. ``pareto.json`` (:func:`front_entries`, :func:`read_front`) lists that front,
cheapest first, as ``{"number", "score", "macs", "params", "genotype"}``; ``cnnzoo nas show`` and
``nas train`` take one of its members with ``--trial N`` (:func:`genotype_from_file`).
``best_genotype.json`` is the best candidate's genotype (the format of
:mod:`cnnzoo.models.genotype`), and ``search_curve.png``, ``best_cell.png/.svg`` and
``pareto_front.png`` are its figures.

The folder is held through :func:`cnnzoo.outdir.owned` by :data:`COMMAND` (one search at a time,
never a folder of someone else's files), and every file in it is written atomically. The readers
take the file's text, so a caller that reads a folder it does not trust (``cnnzoo report``) reads
the bytes its own careful way and hands them over.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnzoo.models.genotype import Genotype, read_genotype_file
from cnnzoo.nas.pareto import pareto_front
from cnnzoo.nas.storage import mask_url
from cnnzoo.reading import json_object, json_text

if TYPE_CHECKING:
    from optuna import Study

    from cnnzoo.nas.search import SearchConfig

COMMAND = "nas search"  # the output folder's owner (cnnzoo.outdir)
LEGACY = ("search.db", "history.csv")  # a search folder from before output markers
RECORD = "search.json"  # the configuration (storage masked), environment and summary
RECORD_KEYS = ("command", "config", "environment", "summary")
HISTORY = "history.csv"  # one row per candidate
FRONT = "pareto.json"  # the Pareto front of score and MACs
HISTORY_FIELDS = (
    "number",
    "strategy",
    "seed",
    "index",
    "state",
    "score",
    "val_loss",
    "macs",
    "params",
    "pareto",
    "train_s",
    "images_per_s",
    "seconds",
    "worker",
    "retry_of",
    "genotype",
)
FRONT_FIELDS = ("number", "score", "macs", "params")  # with the genotype, a pareto.json entry


def config_record(config: SearchConfig) -> dict:
    """The configuration as plain data, with the storage it resolved to, masked."""
    record = dataclasses.asdict(config)
    record.update(
        storage=mask_url(config.storage_url), study=config.study_name, ops=list(config.space.ops)
    )
    return record


def write_record(out: Path, config: SearchConfig, summary: dict | None = None) -> None:
    """``search.json``: what made the folder (configuration, versions, commit) and, once the
    search ends, its summary."""
    from cnnzoo.env import environment
    from cnnzoo.files import write_text_atomic

    record = {
        "command": f"cnnzoo {COMMAND}",
        "config": config_record(config),
        "environment": environment(),
        "summary": summary,
    }
    write_text_atomic(out / RECORD, json.dumps(record, indent=1) + "\n")


def read_record(text: str) -> dict:
    """``search.json`` (:func:`write_record`) from its text.

    Returns:
        ``{"command", "config", "environment", "summary"}``; ``summary`` is ``None`` while the
        search runs (or after it was stopped).

    Raises:
        ValueError: one line naming the file: not JSON, not an object, or without those keys.
    """
    return json_object(text, RECORD, RECORD_KEYS)


@contextlib.contextmanager
def writing_into(out: Path) -> Iterator[None]:
    """Name ``out`` in an ``OSError`` of the block that names no file (a write on a full disk)."""
    try:
        yield
    except OSError as err:
        if err.filename is not None or err.errno is None:
            raise
        raise OSError(err.errno, err.strerror, str(out)) from None


def history_rows(study: Study, config: SearchConfig) -> list[dict]:
    """One row per candidate, in trial order; over-budget trials are left out. ``pareto`` says
    whether a COMPLETE candidate is on the front of score and MACs."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    rows = []
    index = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("over_budget"):
            continue
        attrs = trial.user_attrs
        complete = trial.state.name == "COMPLETE"
        index += complete
        genotype = attrs.get("genotype")
        rows.append(
            {
                "number": trial.number,
                "strategy": config.strategy,
                "seed": config.seed,
                "index": index if complete else "",
                "state": trial.state.name,
                "score": trial.values[0] if complete else None,
                "val_loss": attrs.get("val_loss"),
                "macs": attrs.get("macs"),
                "params": attrs.get("params"),
                "train_s": attrs.get("train_s"),
                "images_per_s": attrs.get("images_per_s"),
                "seconds": attrs.get("seconds"),
                "worker": attrs.get("worker"),
                "retry_of": RetryHeartbeatStaleTrialCallback.retried_trial_number(trial),
                "genotype": json.dumps(genotype, separators=(",", ":")) if genotype else "",
            }
        )
    front = {id(row) for row in pareto_front(r for r in rows if r["state"] == "COMPLETE")}
    for row in rows:
        row["pareto"] = id(row) in front if row["state"] == "COMPLETE" else None
    return rows


def csv_text(rows: list[dict]) -> str:
    """``history.csv``'s text of :func:`history_rows` (``None`` written as an empty cell)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in HISTORY_FIELDS})
    return buffer.getvalue()


def _flag(text: str) -> bool:
    if text not in ("True", "False"):
        raise ValueError
    return text == "True"


# how each typed column of history.csv is read back (the others are text)
HISTORY_TYPES: dict[str, Callable[[str], Any]] = {
    "number": int,
    "seed": int,
    "index": int,
    "score": float,
    "val_loss": float,
    "macs": int,
    "params": int,
    "pareto": _flag,
    "train_s": float,
    "images_per_s": float,
    "seconds": float,
    "retry_of": int,
}


def read_history(text: str) -> list[dict]:
    """``history.csv`` (:func:`csv_text`) from its text: one dict per row with the columns the
    file has (a search of an older cnnzoo may lack some), each value typed back (``number`` an
    int, ``score`` a float, ``pareto`` a bool, ...) and an empty cell ``None``; ``genotype``
    stays its compact JSON text.

    Raises:
        ValueError: one line naming the file: not CSV, a row of another length than the header,
            or a value its column cannot hold.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
        rows = []
        for cells in reader:
            if not cells:  # a blank line, as csv.DictReader skips it
                continue
            if len(cells) != len(header):
                raise ValueError(
                    f"malformed {HISTORY} (line {reader.line_num}: {len(cells)} fields, "
                    f"the header has {len(header)})"
                )
            rows.append(
                {
                    name: _typed(name, cell, reader.line_num)
                    for name, cell in zip(header, cells, strict=True)
                }
            )
    except csv.Error as err:
        raise ValueError(f"{HISTORY} is not readable CSV ({err})") from None
    return rows


def _typed(column: str, cell: str, line: int):
    if cell == "":
        return None
    parse = HISTORY_TYPES.get(column, str)
    try:
        return parse(cell)
    except ValueError:
        raise ValueError(
            f"malformed {HISTORY} (line {line}: {column} {cell[:40]!r} is not "
            f"{'True or False' if parse is _flag else 'a number'})"
        ) from None


def front_entries(rows: Iterable[Mapping[str, Any]]) -> list[dict]:
    """``pareto.json``'s entries for history rows (``genotype`` as compact JSON text)."""
    return [
        {key: row[key] for key in FRONT_FIELDS} | {"genotype": json.loads(row["genotype"])}
        for row in pareto_front(rows)
    ]


def read_front(text: str) -> list[dict]:
    """``pareto.json`` (:func:`front_entries`) from its text: its members, cheapest first.

    Raises:
        ValueError: not JSON, or not a list (a single genotype's file, for one).
    """
    data = json_text(text, FRONT)
    if not isinstance(data, list):
        raise ValueError(f"{FRONT} is not a list of candidates")
    return [entry for entry in data if isinstance(entry, dict)]


def genotype_from_file(path: str | Path, trial: int | None = None) -> Genotype:
    """The genotype of a genotype JSON file, or of trial ``trial`` of a ``pareto.json``.

    Raises:
        ValueError: one line naming the file: unreadable or malformed, a ``pareto.json``
            without ``trial`` or without that trial (the message lists the front's trials), or
            ``trial`` given for a single genotype.
    """
    text = read_genotype_file(path)
    try:
        front = read_front(text)
    except ValueError:
        front = None  # one genotype; Genotype.from_file words its errors
    if front is None:
        if trial is not None:
            raise ValueError(f"--trial is for a pareto.json; {str(path)!r} is one genotype")
        return Genotype.from_file(path)
    numbers = [entry.get("number") for entry in front]
    if trial not in numbers:
        wanted = "give --trial" if trial is None else f"it has no trial {trial}"
        raise ValueError(
            f"{str(path)!r} is a Pareto front: {wanted} (its trials: "
            f"{', '.join(map(str, numbers)) or 'none'})"
        )
    entry = front[numbers.index(trial)]
    try:
        return Genotype.from_dict(entry.get("genotype"))
    except ValueError as err:
        raise ValueError(f"{str(path)!r}, trial {trial}: {err}") from None


def write_outputs(study: Study, config: SearchConfig) -> dict:
    """``history.csv``, ``search_curve.png``, ``best_genotype.json``, ``best_cell.png/.svg``,
    ``pareto.json`` and ``pareto_front.png`` in ``config.out``; returns a JSON-ready summary."""
    from cnnzoo.files import write_text_atomic
    from cnnzoo.nas import draw, plots

    out = Path(config.out)
    rows = history_rows(study, config)
    write_text_atomic(out / HISTORY, csv_text(rows))
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    summary = {
        "study": config.study_name,
        "storage": mask_url(config.storage_url),
        "strategy": config.strategy,
        "complete": len(complete),
        "budget": config.budget_candidates,
        "failed": sum(r["state"] == "FAIL" for r in rows),
        "out": str(out),
    }
    if not complete:
        return summary
    plots.save_search_curve(
        out / "search_curve.png", complete, title=f"{config.strategy}, {config.dataset}"
    )
    best = max(complete, key=lambda r: (r["score"], -r["number"]))
    genotype = Genotype.from_dict(json.loads(best["genotype"]))
    write_text_atomic(out / "best_genotype.json", genotype.to_json(indent=2) + "\n")
    draw.save_genotype(genotype, out / "best_cell")
    front = front_entries(complete)
    write_text_atomic(out / FRONT, json.dumps(front, indent=1) + "\n")
    plots.save_pareto_front(
        out / "pareto_front.png",
        complete,
        title=f"{config.strategy}, {config.dataset}: validation top-1 against MACs",
    )
    summary.update(
        best_score=best["score"],
        best_number=best["number"],
        best_macs=best["macs"],
        best_params=best["params"],
        pareto=len(front),
        minutes=sum(r["seconds"] or 0 for r in complete) / 60,
        mean_candidate_s=sum(r["seconds"] or 0 for r in complete) / len(complete),
    )
    if not math.isfinite(summary["best_score"]):
        summary["best_score"] = None
    return summary
