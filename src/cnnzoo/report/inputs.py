"""The report's optional inputs, read and checked: training-run folders, ``cnnzoo bench`` JSON
files, ``cnnzoo embed`` folders and ``cnnzoo nas search`` folders.

Each reader returns a plain record of what its section shows, with the files it shows copied or
drawn into the site's ``figures/`` folder, or raises :class:`InputError`: one line that names the
input and what is wrong with it. The caller reports the line and writes the rest of the report.

An input folder may come from someone else, so every file is read through :func:`member`: only a
regular file whose real path lies inside the folder (a link to a file elsewhere, a FIFO or a
device is refused), of bounded size; a figure is copied only if its bytes are what its name says
(a PNG's signature; an SVG without scripts), so nothing but the input's own figures reaches the
published site. The text read is parsed by the reader of the tool that wrote the file
(:func:`cnnzoo.embed.command.read_summary`, :func:`cnnzoo.nas.outputs.read_history`, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cnnzoo.files import write_atomic
from cnnzoo.reading import UnsafeInput, json_object, regular_file
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
}
RUN_METRICS = ("epoch", "train_loss", "train_top1", "test_loss", "test_top1")
EMBED_FIGURES = ("scatter.png", "grid.png", "map.png")
NAS_FIGURES = ("search_curve.png", "pareto_front.png", "best_cell.svg")
NAS_TOP = 10  # candidates listed in a search's table
MAX_TEXT = 64 * 2**20  # bytes of a record (JSON, CSV) read from an input
MAX_FIGURE = 64 * 2**20  # bytes of a figure copied from an input
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# what an SVG shown in the site must not hold: scripts, event handlers, embedded documents
SVG_ACTIVE = re.compile(rb"<script|<foreignobject|<iframe|\son[a-z]+\s*=|javascript:", re.I)
T = TypeVar("T")


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
        inside: a run's "inside the trained network" views (``cnnzoo inspect`` of its
            checkpoint): ``(figure path, caption)`` pairs.
        inside_note: why a run has no such views (an empty string when it has them).
    """

    kind: str
    source: str
    title: str
    facts: tuple[tuple[str, str], ...] = ()
    table: tuple[tuple[str, ...], ...] = ()
    figures: tuple[str, ...] = ()
    inside: tuple[tuple[str, str], ...] = ()
    inside_note: str = ""


def _folder(path: Path, option: str) -> Path:
    if not path.exists():
        raise InputError(f"{option} {path}: no such folder")
    if not path.is_dir():
        raise InputError(f"{option} {path}: not a folder")
    return path


def member(folder: Path, name: str, option: str, *, limit: int = MAX_TEXT) -> Path | None:
    """``folder / name`` if it is there (``None`` if not): a regular file inside ``folder``, links
    resolved, of at most ``limit`` bytes.

    Raises:
        InputError: it is there but is a link out of the folder, not a regular file, or too big.
    """
    path = folder / name
    if not path.is_symlink() and not path.exists():
        return None
    try:
        real = regular_file(path, within=folder, what=f"{option} {folder}:")
    except UnsafeInput as err:
        raise InputError(str(err)) from None
    size = real.stat().st_size
    if size > limit:
        raise InputError(
            f"{option} {folder}: {name} is {size:,} bytes, more than the "
            f"{limit:,} an input's file may have"
        )
    return real


def _text(folder: Path, name: str, option: str) -> str | None:
    path = member(folder, name, option)
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{option} {folder}: {name} is not UTF-8 text ({err.reason} at byte {err.start})"
        ) from None
    except OSError as err:
        raise InputError(f"{option} {folder}: cannot read {name} ({err.strerror})") from None


def _json(folder: Path, name: str, option: str) -> dict:
    text = _text(folder, name, option)
    if text is None:
        raise InputError(f"{option} {folder}: no {name} in it")
    try:
        return json_object(text, name)
    except ValueError as err:
        raise InputError(f"{option} {folder}: {err}") from None


def _metrics(folder: Path) -> list[dict]:
    """The rows of a run's ``metrics.csv``, read by its writer's module."""
    from cnnzoo.runlog import read_metrics

    text = _text(folder, "metrics.csv", "--runs")
    if text is None:
        raise InputError(f"--runs {folder}: no metrics.csv in it (not a cnnzoo train run)")
    try:
        return read_metrics(text)
    except ValueError as err:
        raise InputError(f"--runs {folder}: metrics.csv: {err}") from None


def figure_problem(name: str, data: bytes) -> str | None:
    """Why ``data`` cannot be shown as the figure ``name`` (``None`` when it can)."""
    if name.endswith(".png"):
        return None if data.startswith(PNG_SIGNATURE) else "is not a PNG file"
    if name.endswith(".svg"):
        if b"<svg" not in data[:4096].lower():
            return "is not an SVG file"
        return "holds a script or an active element" if SVG_ACTIVE.search(data) else None
    return "is not a figure (.png or .svg)"


def _copy(folder: Path, name: str, site: Path, target: str, option: str) -> str | None:
    """Copy the figure ``folder / name`` into the site as ``figures/<target>`` (checked by
    :func:`member` and :func:`figure_problem`); ``None`` if the input has no such file."""
    path = member(folder, name, option, limit=MAX_FIGURE)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"{option} {folder}: cannot read {name} ({err.strerror})") from None
    problem = figure_problem(name, data)
    if problem:
        raise InputError(f"{option} {folder}: {name} {problem}")
    write_atomic(site / "figures" / target, lambda tmp: tmp.write_bytes(data))
    return f"figures/{target}"


def _percent(value) -> str:
    return "-" if value is None else f"{float(value):.2%}"


# what a report shows of a run's checkpoint inside the network: a small, fast `cnnzoo inspect`
INSIDE = {"test_images": 3, "top_from": 500, "channels": 8}


def inside_views(
    folder: Path, checkpoint: Path, site: Path, key: str
) -> tuple[tuple[tuple[str, str], ...], str]:
    """The "inside the trained network" views of a run's checkpoint, computed now by
    ``cnnzoo inspect`` (:data:`INSIDE`) in a temporary folder, the figures copied into the site
    as any input's are: ``((figure, caption), ...)`` and a note (why none, when none)."""
    import tempfile

    from cnnzoo.inside.command import InspectConfig, inspect
    from cnnzoo.inside.views import read_folder

    with tempfile.TemporaryDirectory(prefix="cnnzoo-inside-") as tmp:
        try:
            inspect(InspectConfig(str(checkpoint), **INSIDE), into=Path(tmp))
            views = read_folder(Path(tmp))
        except ValueError as err:
            return (), f"not shown: cannot inspect {checkpoint.name}: {err}"
        stages = views["stages"]
        shown = [
            ("filters.png", f"the first convolution's filters ({views['filters']['layer']})")
            if views["filters"]
            else None,
            ("maps-0.png", f"feature maps after each stage ({', '.join(stages)})"),
            *(
                (
                    f"top9-{name}.png",
                    f"{name}: each channel's top 9 of {views['top_from']:,} test images, cropped "
                    "to its receptive field",
                )
                for name in dict.fromkeys((stages[0], views["cam_layer"]))
            ),
            (
                "evidence.png",
                f"Grad-CAM at {views['cam_layer']} and {views['gradient'].replace('-', ' ')} "
                "for the predicted class, with the predictions",
            ),
        ]
        figures = []
        for name, caption in filter(None, shown):
            path = _copy(Path(tmp), name, site, f"run-{key}-inside-{name}", "--runs")
            if path is not None:
                figures.append((path, caption))
    return tuple(figures), ""


def read_run(folder: Path, site: Path, key: str, *, evaluate: bool = True) -> Section:
    """A training run: its configuration, its curves from ``metrics.csv``, the confusion
    matrix of its best checkpoint on the test split (evaluated here unless ``cnnzoo eval``
    already left one in the folder, or ``evaluate`` is off) and, unless ``evaluate`` is off,
    what the checkpoint sees (:func:`inside_views`)."""
    folder = _folder(Path(folder), "--runs")
    config = _json(folder, "config.json", "--runs")
    rows = _metrics(folder)
    if not rows:
        raise InputError(f"--runs {folder}: metrics.csv has no finished epoch")
    missing = [c for c in RUN_METRICS if c not in rows[0]]
    if missing:
        raise InputError(f"--runs {folder}: metrics.csv lacks the columns {', '.join(missing)}")
    try:
        title = f"{config['model']} on {config['dataset']}"
        figure = save_svg(training_curves(title, rows), site / "figures" / f"run-{key}-curves")
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"--runs {folder}: malformed config.json or metrics.csv ({err})") from None
    figures = [f"figures/{figure.name}"]
    confusion = sorted(p.name for p in folder.glob("*-confusion-*.png"))
    checkpoint = next(
        filter(None, (member(folder, n, "--runs", limit=2**62) for n in ("best.pt", "last.pt"))),
        None,
    )
    if confusion:
        figures.append(_copy(folder, confusion[0], site, f"run-{key}-confusion.png", "--runs"))
    elif checkpoint is not None and evaluate:
        from cnnzoo.evaluate.command import EvalConfig, evaluate_source

        png = site / "figures" / f"run-{key}-confusion.png"
        try:
            evaluate_source(EvalConfig(str(checkpoint), out=str(png)))
        except ValueError as err:
            raise InputError(f"--runs {folder}: cannot evaluate {checkpoint.name}: {err}") from None
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
        *(
            (
                r["epoch"],
                f"{float(r['train_loss']):.4f}",
                _percent(r["train_top1"]),
                f"{float(r['test_loss']):.4f}",
                _percent(r["test_top1"]),
            )
            for r in rows
        ),
    )
    inside, note = (), "not shown: no best.pt or last.pt in the run"
    if checkpoint is not None and evaluate:
        inside, note = inside_views(folder, checkpoint, site, key)
    return Section(
        "runs",
        str(folder),
        f"Training run: {title}",
        facts,
        table,
        tuple(figures),
        inside=inside,
        inside_note=note if evaluate else "",
    )


def read_bench(path: Path, site: Path, key: str) -> Section:
    """A ``cnnzoo bench --format json`` record: its speed table and the latency chart."""
    from cnnzoo.bench.render import fmt, from_json
    from cnnzoo.viz import charts, draw
    from cnnzoo.viz.plot import render

    path = Path(path)
    if not path.is_symlink() and not path.exists():
        raise InputError(f"--bench {path}: no such file")
    try:
        real = regular_file(path, what="--bench")
        if real.stat().st_size > MAX_TEXT:
            raise ValueError(f"more than {MAX_TEXT:,} bytes")
        record = from_json(real.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"--bench {path}: not a cnnzoo bench JSON record ({err})") from None
    try:
        table = [
            (
                "model",
                "runtime",
                "precision",
                "batch",
                "status",
                "median ms",
                "img/s",
                "speed-up",
                "exact",
            )
        ]
        for r in record["results"]:
            lat = r.get("latency_ms") or {}
            table.append(
                (
                    r["model"],
                    r["runtime"],
                    r["precision"],
                    str(r["batch_size"]),
                    r["status"],
                    fmt(lat.get("median"), ".3f"),
                    fmt(r.get("images_per_s"), ",.1f"),
                    fmt(r.get("speedup"), ".2f"),
                    "-" if r.get("exact") is None else str(r["exact"]).lower(),
                )
            )
        env = record["environment"]
        facts = (
            ("machine", f"{env['cpu']}, {env.get('threads', '?')} threads"),
            ("CPU flags", " ".join(env.get("cpu_flags") or []) or "none"),
            ("torch", str(env.get("torch"))),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(
            f"--bench {path}: malformed record ({type(err).__name__}: {err})"
        ) from None
    figures: tuple[str, ...] = ()
    try:
        data = charts.latency(charts.read_bench(real), charts.paper_top1_table())
        chart = save_svg(render(data, draw.draw_latency), site / "figures" / f"bench-{key}-latency")
        figures = (f"figures/{chart.name}",)
    except ValueError:
        pass  # no model with a paper top-1, or no ok row: the table says it all
    return Section(
        "bench", str(path), f"Inference benchmark: {path.name}", facts, tuple(table), figures
    )


def _record(folder: Path, name: str, option: str, read: Callable[[str], T], missing: str = "") -> T:
    """The file ``name`` of ``folder``, read through :func:`member` and parsed by ``read``, the
    reader of the tool that writes it (text in; a one-line ``ValueError`` naming the file)."""
    text = _text(folder, name, option)
    if text is None:
        raise InputError(
            f"{option} {folder}: no {name} in it" + (f" ({missing})" if missing else "")
        )
    try:
        return read(text)
    except ValueError as err:
        raise InputError(f"{option} {folder}: {err}") from None


def read_embed(folder: Path, site: Path, key: str) -> Section:
    """A ``cnnzoo embed`` folder: its map's figures and neighbourhood scores (a ``--compare``
    folder shows its side-by-side figure and both scores)."""
    from cnnzoo.embed.command import COMPARE, SUMMARY, read_compare, read_summary

    folder = _folder(Path(folder), "--embed")
    if member(folder, COMPARE, "--embed") and not member(folder, SUMMARY, "--embed"):
        compared = _record(folder, COMPARE, "--embed", read_compare)
        figures = [
            f
            for f in [_copy(folder, "compare.png", site, f"embed-{key}-compare.png", "--embed")]
            if f
        ]
        facts = tuple(
            (str(k), _fact(v)) for k, v in compared.items() if not isinstance(v, dict | list)
        )
        return Section(
            "embed", str(folder), f"t-SNE comparison: {folder.name}", facts, figures=tuple(figures)
        )
    summary = _record(folder, SUMMARY, "--embed", read_summary)
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
    figures = tuple(
        filter(
            None,
            (_copy(folder, name, site, f"embed-{key}-{name}", "--embed") for name in EMBED_FIGURES),
        )
    )
    if not figures:
        raise InputError(f"--embed {folder}: none of {', '.join(EMBED_FIGURES)} in it")
    return Section("embed", str(folder), f"t-SNE map: {summary['model']}", facts, figures=figures)


def _fact(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def read_nas(folder: Path, site: Path, key: str) -> Section:
    """A ``cnnzoo nas search`` folder: its best candidates, search curve, Pareto front and best
    cell."""
    from cnnzoo.nas.outputs import HISTORY, read_history

    folder = _folder(Path(folder), "--nas")
    rows = _record(folder, HISTORY, "--nas", read_history, "not a nas search folder")
    try:
        done = sorted((r for r in rows if r["state"] == "COMPLETE"), key=lambda r: -r["score"])
        strategy = {r["strategy"] for r in rows if r["strategy"] is not None}
        table = (
            ("candidate", "validation top-1", "MACs", "parameters", "train s", "worker"),
            *(
                (
                    str(r["index"]),
                    _percent(r["score"]),
                    f"{r['macs'] / 1e6:.1f} M",
                    f"{r['params']:,}",
                    "diverged" if r["train_s"] is None else f"{r['train_s']:.0f}",
                    r["worker"] or "",
                )
                for r in done[:NAS_TOP]
            ),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"--nas {folder}: malformed {HISTORY} ({err})") from None
    has_front = bool(rows) and "pareto" in rows[0]  # older searches have no such column
    figures = tuple(
        filter(
            None, (_copy(folder, name, site, f"nas-{key}-{name}", "--nas") for name in NAS_FIGURES)
        )
    )
    facts = (
        ("strategy", ", ".join(sorted(strategy)) or "-"),
        ("candidates finished", f"{len(done)} of {len(rows)} trials"),
        ("best validation top-1", _percent(done[0]["score"]) if done else "-"),
        (
            "on the Pareto front of top-1 and MACs",
            str(sum(r["pareto"] is True for r in done)) if has_front else "-",
        ),
    )
    return Section("nas", str(folder), f"Architecture search: {folder.name}", facts, table, figures)


READERS = {"runs": read_run, "bench": read_bench, "embed": read_embed, "nas": read_nas}
