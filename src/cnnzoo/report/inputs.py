"""The report's optional inputs, read and checked: training-run folders, ``cnnzoo bench`` JSON
files, ``cnnzoo embed`` folders and ``cnnzoo nas search`` folders.

Each reader returns a plain record of what its section shows, with the files it shows copied or
drawn into the site's ``figures/`` folder, or raises :class:`InputError`: one line that names the
input and what is wrong with it. The caller reports the line and writes the rest of the report.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from cnnzoo.report.figures import save_svg, training_curves

# how to make each kind of input, shown where the input is absent
HOW_TO = {
    "runs": "cnnzoo train lenet5 --dataset fashion-mnist --epochs 5 --out runs/lenet5, then "
            "cnnzoo report --runs runs/lenet5",
    "bench": "cnnzoo bench lenet5 resnet20 --format json --out bench.json, then "
             "cnnzoo report --bench bench.json",
    "embed": "cnnzoo embed runs/lenet5/best.pt --out runs/embed-lenet5, then "
             "cnnzoo report --embed runs/embed-lenet5",
    "nas": "cnnzoo nas search --budget-candidates 20 --out runs/nas, then "
           "cnnzoo report --nas runs/nas",
}  # fmt: skip
RUN_METRICS = ("epoch", "train_loss", "train_top1", "test_loss", "test_top1")
EMBED_FIGURES = ("scatter.png", "grid.png", "map.png")
NAS_FIGURES = ("search_curve.png", "pareto_front.png", "best_cell.svg")
NAS_TOP = 10  # candidates listed in a search's table


class InputError(ValueError):
    """An optional input that cannot be shown (the message names it)."""


@dataclass(frozen=True)
class Section:
    """One input's section of the results page.

    Args:
        kind: ``runs``, ``bench``, ``embed`` or ``nas``.
        source: the folder or file it was read from.
        title: the section's heading.
        facts: ``(label, value)`` lines.
        table: rows, the first the header.
        figures: paths of its figures, relative to the site root.
    """

    kind: str
    source: str
    title: str
    facts: tuple[tuple[str, str], ...] = ()
    table: tuple[tuple[str, ...], ...] = ()
    figures: tuple[str, ...] = ()


def _folder(path: Path, option: str) -> Path:
    if not path.exists():
        raise InputError(f"{option} {path}: no such folder")
    if not path.is_dir():
        raise InputError(f"{option} {path}: not a folder")
    return path


def _json(path: Path, option: str, source: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{option} {source}: no {path.name} in it") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{option} {source}: {path.name} is not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise InputError(f"{option} {source}: {path.name} is not a JSON object")
    return data


def _copy(src: Path, site: Path, name: str) -> str:
    dest = site / "figures" / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return f"figures/{name}"


def _percent(value) -> str:
    return "-" if value is None else f"{float(value):.2%}"


def read_run(folder: Path, site: Path, key: str, *, evaluate: bool = True) -> Section:
    """A training run: its configuration, its curves from ``metrics.csv`` and the confusion
    matrix of its best checkpoint on the test split (evaluated here unless ``cnnzoo eval``
    already left one in the folder, or ``evaluate`` is off)."""
    folder = _folder(Path(folder), "--runs")
    config = _json(folder / "config.json", "--runs", folder)
    metrics = folder / "metrics.csv"
    try:
        with metrics.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise InputError(f"--runs {folder}: no metrics.csv in it (not a cnnzoo train run)") \
            from None  # fmt: skip
    if not rows:
        raise InputError(f"--runs {folder}: metrics.csv has no finished epoch")
    missing = [c for c in RUN_METRICS if c not in rows[0]]
    if missing:
        raise InputError(f"--runs {folder}: metrics.csv lacks the columns {', '.join(missing)}")
    try:
        title = f"{config['model']} on {config['dataset']}"
        figure = save_svg(training_curves(title, rows), site / "figures" / f"run-{key}-curves")
    except (KeyError, ValueError) as err:
        raise InputError(f"--runs {folder}: malformed config.json or metrics.csv ({err})") \
            from None  # fmt: skip
    figures = [f"figures/{figure.name}"]
    confusion = sorted(folder.glob("*-confusion-*.png"))
    checkpoint = next((folder / n for n in ("best.pt", "last.pt") if (folder / n).is_file()), None)
    if confusion:
        figures.append(_copy(confusion[0], site, f"run-{key}-confusion.png"))
    elif checkpoint is not None and evaluate:
        from cnnzoo.train.config import EvalConfig
        from cnnzoo.train.inference import evaluate_checkpoint

        png = site / "figures" / f"run-{key}-confusion.png"
        try:
            evaluate_checkpoint(EvalConfig(str(checkpoint), out=str(png)))
        except ValueError as err:
            raise InputError(f"--runs {folder}: cannot evaluate {checkpoint.name}: {err}") \
                from None  # fmt: skip
        figures.append(f"figures/{png.name}")
    last = rows[-1]
    best = max(rows, key=lambda r: float(r["test_top1"]))
    facts = (
        ("model", str(config["model"])),
        ("dataset", str(config["dataset"])),
        ("epochs run", f"{last['epoch']} of {config.get('epochs', '?')}"),
        ("test top-1 after the last epoch", _percent(last["test_top1"])),
        ("best test top-1", f"{_percent(best['test_top1'])} (epoch {best['epoch']})"),
        ("training time", f"{sum(float(r.get('seconds') or 0) for r in rows) / 60:.1f} min"),
    )
    table = (
        ("epoch", "train loss", "train top-1", "test loss", "test top-1"),
        *((r["epoch"], f"{float(r['train_loss']):.4f}", _percent(r["train_top1"]),
           f"{float(r['test_loss']):.4f}", _percent(r["test_top1"])) for r in rows),
    )  # fmt: skip
    return Section("runs", str(folder), f"Training run: {title}", facts, table, tuple(figures))


def read_bench(path: Path, site: Path, key: str) -> Section:
    """A ``cnnzoo bench --format json`` record: its speed table and the latency chart."""
    from cnnzoo.bench.render import fmt, from_json
    from cnnzoo.viz import charts, draw
    from cnnzoo.viz.plot import render

    path = Path(path)
    try:
        record = from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"--bench {path}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"--bench {path}: not a cnnzoo bench JSON record ({err})") from None
    try:
        table = [("model", "runtime", "precision", "batch", "status", "median ms", "img/s",
                  "speed-up", "exact")]  # fmt: skip
        for r in record["results"]:
            lat = r.get("latency_ms") or {}
            table.append((r["model"], r["runtime"], r["precision"], str(r["batch_size"]),
                          r["status"], fmt(lat.get("median"), ".3f"),
                          fmt(r.get("images_per_s"), ",.1f"), fmt(r.get("speedup"), ".2f"),
                          "-" if r.get("exact") is None else str(r["exact"]).lower()))  # fmt: skip
        env = record["environment"]
        facts = (("machine", f"{env['cpu']}, {env.get('threads', '?')} threads"),
                 ("CPU flags", " ".join(env.get("cpu_flags") or []) or "none"),
                 ("torch", str(env.get("torch"))))  # fmt: skip
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"--bench {path}: malformed record ({type(err).__name__}: {err})") \
            from None  # fmt: skip
    figures: tuple[str, ...] = ()
    try:
        data = charts.latency(charts.read_bench(path), charts.paper_top1_table())
        chart = save_svg(render(data, draw.draw_latency), site / "figures" / f"bench-{key}-latency")
        figures = (f"figures/{chart.name}",)
    except ValueError:
        pass  # no model with a paper top-1, or no ok row: the table says it all
    return Section("bench", str(path), f"Inference benchmark: {path.name}", facts,
                   tuple(table), figures)  # fmt: skip


def read_embed(folder: Path, site: Path, key: str) -> Section:
    """A ``cnnzoo embed`` folder: its map's figures and neighbourhood scores (a ``--compare``
    folder shows its side-by-side figure and both scores)."""
    folder = _folder(Path(folder), "--embed")
    if (folder / "compare.json").is_file() and not (folder / "summary.json").is_file():
        compared = _json(folder / "compare.json", "--embed", folder)
        figures = [_copy(folder / "compare.png", site, f"embed-{key}-compare.png")] \
            if (folder / "compare.png").is_file() else []  # fmt: skip
        facts = tuple((str(k), _fact(v)) for k, v in compared.items()
                      if not isinstance(v, dict | list))  # fmt: skip
        return Section("embed", str(folder), f"t-SNE comparison: {folder.name}", facts,
                       figures=tuple(figures))  # fmt: skip
    summary = _json(folder / "summary.json", "--embed", folder)
    try:
        facts = (
            ("features of", f"{summary['model']} ({summary['layer']}, {summary['feature_dim']}-d)"),
            ("images", f"{summary['n']:,} of {summary['dataset']} {summary['split']}"),
            ("5-NN accuracy in feature space", _percent(summary["knn_features"])),
            ("5-NN accuracy in the map", _percent(summary["knn_map"])),
            ("trustworthiness", f"{float(summary['trustworthiness']):.4f}"),
            ("perplexity, seed", f"{summary['perplexity']:g}, {summary['seed']}"),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"--embed {folder}: summary.json lacks {err}") from None
    figures = tuple(_copy(folder / name, site, f"embed-{key}-{name}")
                    for name in EMBED_FIGURES if (folder / name).is_file())  # fmt: skip
    if not figures:
        raise InputError(f"--embed {folder}: none of {', '.join(EMBED_FIGURES)} in it")
    return Section("embed", str(folder), f"t-SNE map: {summary['model']}", facts, figures=figures)


def _fact(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def read_nas(folder: Path, site: Path, key: str) -> Section:
    """A ``cnnzoo nas search`` folder: its best candidates, search curve, Pareto front and best
    cell."""
    folder = _folder(Path(folder), "--nas")
    try:
        with (folder / "history.csv").open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise InputError(f"--nas {folder}: no history.csv in it (not a nas search folder)") \
            from None  # fmt: skip
    try:
        done = sorted((r for r in rows if r["state"] == "COMPLETE"),
                      key=lambda r: -float(r["score"]))  # fmt: skip
        strategy = {r["strategy"] for r in rows}
        table = (("candidate", "validation top-1", "MACs", "parameters", "train s", "worker"),
                 *((r["index"], _percent(r["score"]), f"{int(r['macs']) / 1e6:.1f} M",
                    f"{int(r['params']):,}",
                    f"{float(r['train_s']):.0f}" if r["train_s"] else "diverged", r["worker"])
                   for r in done[:NAS_TOP]))  # fmt: skip
    except (KeyError, ValueError) as err:
        raise InputError(f"--nas {folder}: malformed history.csv ({err})") from None
    has_front = bool(rows) and "pareto" in rows[0]  # older searches have no such column
    figures = tuple(_copy(folder / name, site, f"nas-{key}-{name}")
                    for name in NAS_FIGURES if (folder / name).is_file())  # fmt: skip
    facts = (("strategy", ", ".join(sorted(strategy)) or "-"),
             ("candidates finished", f"{len(done)} of {len(rows)} trials"),
             ("best validation top-1", _percent(done[0]["score"]) if done else "-"),
             ("on the Pareto front of top-1 and MACs",
              str(sum(r["pareto"] == "True" for r in done)) if has_front else "-"))  # fmt: skip
    return Section("nas", str(folder), f"Architecture search: {folder.name}", facts, table,
                   figures)  # fmt: skip


READERS = {"runs": read_run, "bench": read_bench, "embed": read_embed, "nas": read_nas}
