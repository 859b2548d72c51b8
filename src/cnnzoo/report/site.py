"""``cnnzoo report``: the whole story as one static site, regenerated from the code.

:func:`build_report` measures the zoo (:mod:`cnnzoo.report.zoo`), draws the charts, reads the
optional inputs (:mod:`cnnzoo.report.inputs`) and renders the Jinja2 templates of this package
into ``out``: ``index.html``, one page per family, ``explain.html`` and ``results.html``, with
their figures under ``figures/``, the stylesheet and table-sorting script under ``assets/``, and
``report.json`` (the flags, the pages, the inputs left out, versions and commit).
Nothing is fetched when the pages are viewed. An input that cannot be read is reported in one
line and left out; the rest of the site is still written.

The site is an owned output folder (:mod:`cnnzoo.outdir`): locked while the report is built, built
whole in a staging folder and swapped in at the end, so a reader (a web server, a browser) sees the
previous site or the new one, never a mixture, and an interrupted or failed build leaves the
previous site as it was.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cnnzoo.analysis.compare import format_difference
from cnnzoo.analysis.explain import TOPICS
from cnnzoo.analysis.report import binary_size, format_field, si
from cnnzoo.env import environment
from cnnzoo.files import write_text_atomic
from cnnzoo.options import option
from cnnzoo.outdir import owned
from cnnzoo.progress import Progress, silent
from cnnzoo.report import figures as charts
from cnnzoo.report.inputs import HOW_TO, READERS, InputError, Section
from cnnzoo.report.live import (
    LiveError,
    LivePage,
    WebRuntime,
    find_runtime,
    live_summary,
    read_live,
    write_runtime,
)
from cnnzoo.report.zoo import measure_zoo

ASSETS = ("report.css", "sort.js", "diagram.js", "live.js")


@dataclass(frozen=True)
class ReportConfig:
    """``cnnzoo report``'s flags.

    Args:
        out: the site's folder.
        runs: ``cnnzoo train`` run folders.
        bench: ``cnnzoo bench --format json`` files.
        embed: ``cnnzoo embed`` output folders.
        nas: ``cnnzoo nas search`` output folders.
        live: checkpoints that get a page running their network in the browser
            (:mod:`cnnzoo.report.live`).
        ort_web: the npm package ``onnxruntime-web`` those pages run on.
        models: profile only these models (default: the whole zoo).
        check: load every page in headless Chromium (:mod:`cnnzoo.report.browser`).
        force: replace a folder of files that cnnzoo did not write.
    """

    out: str = option("site", help="", metavar="DIR")
    runs: tuple[str, ...] = option(
        (),
        help="cnnzoo train run folders: curves and confusion matrix",
        nargs="+",
        metavar="RUN_DIR",
        default_help="none",
    )
    bench: tuple[str, ...] = option(
        (),
        help="cnnzoo bench --format json files: speed table, latency chart",
        nargs="+",
        metavar="FILE.json",
        default_help="none",
    )
    embed: tuple[str, ...] = option(
        (),
        help="cnnzoo embed folders: t-SNE scatter and grid",
        nargs="+",
        metavar="DIR",
        default_help="none",
    )
    nas: tuple[str, ...] = option(
        (),
        help="cnnzoo nas search folders: search curve and best cell",
        nargs="+",
        metavar="DIR",
        default_help="none",
    )
    live: tuple[str, ...] = option(
        (),
        help="checkpoints whose network runs live in a page of its own (fp32 and int8 ONNX)",
        nargs="+",
        metavar="CHECKPOINT",
        default_help="none",
    )
    ort_web: str = option(
        "web/node_modules/onnxruntime-web",
        help="the npm package onnxruntime-web, for --live (installed by scripts/setup.sh)",
        metavar="DIR",
    )
    models: tuple[str, ...] = option(
        (),
        help="profile only these models",
        nargs="+",
        metavar="MODEL",
        default_help="the whole zoo",
    )
    check: bool = option(
        False,
        help="load every page in headless Chromium; fail on console errors or broken images; "
        "screenshots in DIR/screenshots",
    )
    force: bool = option(False, help="replace DIR even if it holds files cnnzoo did not write")

    def inputs(self) -> dict[str, tuple[str, ...]]:
        """The optional inputs by kind, in :data:`~cnnzoo.report.inputs.READERS` order."""
        return {kind: getattr(self, kind) for kind in READERS}


def _templates():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("cnnzoo.report", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        si=si,
        binary_size=binary_size,
        diff=format_difference,
        field=lambda rf: format_field(rf)[0],
        inline=inline_html,
        shape=lambda s: " x ".join(map(str, s)) or "-",
        thousands=lambda n: f"{n:,}",
    )
    return env


# a Sphinx cross-reference, :class:`Cell` or :func:`~cnnzoo.models.genotype.check_genotype`
# (a leading ~ shows only the last dotted part)
ROLE = re.compile(r":[a-z]+:`(~?)([^`]+)`")


def _role_as_code(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"``{target.rsplit('.', 1)[-1] if tilde else target}``"


def inline_html(text: str):
    """Escape ``text`` and set its ``double-backquoted`` spans and cross-references as code."""
    from markupsafe import Markup, escape

    parts = ROLE.sub(_role_as_code, str(escape(text))).split("``")
    return Markup("".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)))


def read_inputs(
    config: ReportConfig, site: Path, warn: Callable[[str], None]
) -> tuple[dict[str, list[Section]], list[str]]:
    """Every optional input's section, by kind; the one-line problems of those left out."""
    sections: dict[str, list[Section]] = {kind: [] for kind in READERS}
    problems = []
    for kind, sources in config.inputs().items():
        for index, source in enumerate(sources):
            try:
                sections[kind].append(READERS[kind](Path(source), site, f"{index}"))
            except InputError as err:
                problems.append(str(err))
                warn(str(err))
    return sections, problems


def build_report(
    config: ReportConfig,
    warn: Callable[[str], None] = lambda line: None,
    check: Callable[[Path, list[str]], None] | None = None,
    progress: Progress | None = None,
) -> dict:
    """Write the site (see the module docstring for how it is published).

    Args:
        config: the flags.
        warn: called with the line of each input left out, when it is found.
        check: called with the staged site and its pages before it is published (the browser
            check, whose screenshots are then published with the site).
        progress: told each model profiled, then the site written and checked.

    Returns:
        ``out``, ``pages`` (paths written, relative to ``out``), ``problems`` (one line per input
        left out) and ``seconds``.

    Raises:
        ValueError: ``out`` is a file, in use, not ours, or ``models`` names an unknown model.
    """
    progress = progress or silent
    start = time.perf_counter()
    runtime = find_runtime(config.ort_web) if config.live else None  # first: a missing piece
    with owned(config.out, "report", legacy=("report.json",), force=config.force) as folder:
        # first: an unknown model fails before any input
        zoo = measure_zoo(config.models or None, progress)
        with folder.staged() as site:
            progress("figures and pages", 0, 1)
            result = write_site(config, zoo, site, warn, runtime)
            if check is not None:
                progress("check in Chromium", 0, 1)
                check(site, result["pages"])
    return {**result, "seconds": time.perf_counter() - start}


def read_live_pages(
    config: ReportConfig, site: Path, runtime: WebRuntime | None, warn: Callable[[str], None]
) -> tuple[list[LivePage], list[str]]:
    """The live pages of ``config.live`` with their files written into ``site`` (the runtime's
    once); the one-line problems of the checkpoints left out."""
    pages, problems = [], []
    for index, checkpoint in enumerate(config.live):
        try:
            pages.append(read_live(checkpoint, site, str(index), runtime))
        except LiveError as err:
            problems.append(str(err))
            warn(str(err))
    if pages:
        write_runtime(runtime, site)
    return pages, problems


def write_site(
    config: ReportConfig,
    zoo,
    site: Path,
    warn: Callable[[str], None],
    runtime: WebRuntime | None = None,
) -> dict:
    """Write every page, figure and asset of the site into the (new) folder ``site``; the
    result of :func:`build_report` but its time. ``runtime``: the browser runtime of the live
    pages (:func:`~cnnzoo.report.live.find_runtime`), when ``config.live`` asks for some."""
    (site / "figures").mkdir(parents=True, exist_ok=True)
    sections, problems = read_inputs(config, site, warn)
    live, live_problems = read_live_pages(config, site, runtime, warn)
    problems += live_problems
    index_charts = {
        name: charts.save_svg(fig, site / "figures" / name).name
        for name, fig in charts.index_charts(zoo.figures()).items()
    }
    field_charts = {
        f.family: charts.save_svg(
            charts.field_growth_chart(
                f"Receptive field through {f.short}", [m.report for m in f.models]
            ),
            site / "figures" / f"{f.family}-receptive-field",
        ).name
        for f in zoo.families
    }
    env = _templates()
    made_by = environment("cpu")
    env.globals["made_by"] = made_by
    nav = [
        ("index.html", "Zoo"),
        *((f"{f.family}.html", f.short) for f in zoo.families),
        ("explain.html", "Calculations"),
        ("results.html", "Results"),
        *((page.page, f"Live: {page.model}") for page in live),
    ]
    pages: dict[str, str] = {
        "index.html": env.get_template("index.html").render(
            nav=nav, current="index.html", zoo=zoo, charts=index_charts, sections=sections
        ),
        "explain.html": env.get_template("explain.html").render(
            nav=nav,
            current="explain.html",
            topics=[(name, make()) for name, make in TOPICS.items()],
        ),
        "results.html": env.get_template("results.html").render(
            nav=nav, current="results.html", sections=sections, how_to=HOW_TO, problems=problems
        ),
    }
    family = env.get_template("family.html")
    for page in zoo.families:
        name = f"{page.family}.html"
        pages[name] = family.render(
            nav=nav, current=name, page=page, chart=field_charts[page.family]
        )
    for name in ASSETS:
        text = resources.files("cnnzoo.report").joinpath("static", name).read_text("utf-8")
        write_text_atomic(site / "assets" / name, text)
    for page in live:
        pages[page.page] = env.get_template("live.html").render(
            nav=nav, current=page.page, live=page
        )
    for name, html in pages.items():
        write_text_atomic(site / name, html)
    result = {
        "out": config.out,
        "pages": sorted(pages),
        "problems": problems,
        "live": [live_summary(page) for page in live],
    }
    record = {
        "schema": "cnnzoo-report",
        "version": 1,
        "config": dataclasses.asdict(config),
        **result,
        "environment": made_by,
    }
    write_text_atomic(site / "report.json", json.dumps(record, indent=2) + "\n")
    return result
