"""What the report says about the zoo itself, measured: every model profiled once, the
"evolution of depth" rows, and one page's worth of data per family.

Everything here comes from the registry (names, papers, the family file's docstring through the
builder's module) and the profiler; nothing is typed in. A family file's docstring is turned into
paragraphs and bullet lists, and its "Deviations from the paper" list is kept apart.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from cnnzoo.analysis.compare import CompareRow, compare_row, default_names, measured_setting
from cnnzoo.analysis.profiler import profile_flow
from cnnzoo.analysis.report import Report, Row
from cnnzoo.draw.page import PageDrawing, page_drawing
from cnnzoo.progress import Progress, silent
from cnnzoo.reference import reference_models
from cnnzoo.registry import REGISTRY, create_model, get_model_spec
from cnnzoo.viz.charts import ModelFigures

DEVIATIONS_HEADING = "Deviations from the paper:"


@dataclass(frozen=True)
class Block:
    """A piece of a docstring: a paragraph (``kind="p"``, one item) or a list (``"ul"``)."""

    kind: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class Stage:
    """One top-level module of a network with the leaf rows that ran inside it."""

    row: Row
    layers: tuple[Row, ...]


@dataclass(frozen=True)
class ModelPage:
    """One model on its family's page.

    Args:
        name: registry name.
        report: the profile at the model's standard input.
        compared: the model's figures beside its paper's (at the paper's setting).
        stages: the profile folded to top-level modules, each with its layers.
        drawing: its diagram and its blocks' layers (:mod:`cnnzoo.draw.page`).
    """

    name: str
    report: Report
    compared: CompareRow
    stages: tuple[Stage, ...]
    drawing: PageDrawing | None = None


@dataclass(frozen=True)
class FamilyPage:
    """The data of one family's page.

    Args:
        family: the family file's name (``"resnet"``).
        title: the first line of the family file's docstring.
        papers: the citations of its models, once each, in registry order.
        intro: the docstring before its deviations list.
        deviations: the deviations list.
        models: its models, oldest first.
    """

    family: str
    title: str
    papers: tuple[str, ...]
    intro: tuple[Block, ...]
    deviations: tuple[Block, ...]
    models: tuple[ModelPage, ...]

    @property
    def short(self) -> str:
        """The title's part before its colon: the name of the network (``"ResNet"``)."""
        return self.title.split(":")[0]


@dataclass(frozen=True)
class Zoo:
    """The measured zoo: the evolution table (models with a paper reference, by year) and the
    family pages."""

    evolution: tuple[CompareRow, ...]
    families: tuple[FamilyPage, ...]

    def figures(self) -> list[ModelFigures]:
        """The charts' figures of every model at its standard input."""
        return [
            ModelFigures(
                m.name,
                f.family,
                get_model_spec(m.name).year,
                m.report.totals.macs_conv_linear,
                m.report.totals.params,
                m.report.totals.depth,
            )
            for f in self.families
            for m in f.models
        ]


def doc_blocks(text: str) -> tuple[Block, ...]:
    """Paragraphs and ``- `` bullet lists of a docstring part (continuation lines joined)."""
    blocks: list[Block] = []
    paragraph: list[str] = []
    bullets: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(Block("p", (" ".join(paragraph),)))
            paragraph.clear()
        if bullets:
            blocks.append(Block("ul", tuple(bullets)))
            bullets.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            flush()
        elif stripped.startswith("- "):
            if paragraph:
                flush()
            bullets.append(stripped[2:])
        elif bullets:
            bullets[-1] += " " + stripped
        else:
            paragraph.append(stripped)
    flush()
    return tuple(blocks)


def split_doc(doc: str) -> tuple[str, tuple[Block, ...], tuple[Block, ...]]:
    """A family docstring as (title, intro blocks, deviation blocks)."""
    title, _, rest = inspect.cleandoc(doc).partition("\n")
    intro, _, deviations = rest.partition(DEVIATIONS_HEADING)
    return title.strip().rstrip("."), doc_blocks(intro), doc_blocks(deviations)


def stages(report: Report) -> tuple[Stage, ...]:
    """The report's stage rows, each with the leaf rows whose name starts with it."""
    groups: dict[str, list[Row]] = {}
    for row in report.rows:
        groups.setdefault(row.name.split(".")[0], []).append(row)
    return tuple(Stage(s, tuple(groups.get(s.name.split(".")[0], ()))) for s in report.stages)


def family_doc(family: str) -> str:
    """The docstring of the family file that registers ``family``'s models."""
    spec = next(s for s in REGISTRY.values() if s.family == family)
    return inspect.getmodule(spec.builder).__doc__ or family


def measure_zoo(names: Sequence[str] | None = None, progress: Progress | None = None) -> Zoo:
    """Profile every model (or ``names``) once at its standard input, and once more at its
    paper's setting where that differs; group them by family.

    Args:
        names: registry names (default: the whole zoo).
        progress: told ``profile NAME`` before each model.
    """
    progress = progress or silent
    references = {r.name: r for r in reference_models()}
    chosen = list(REGISTRY) if names is None else list(names)
    pages: dict[str, list[ModelPage]] = {}
    compared: dict[str, CompareRow] = {}
    for index, name in enumerate(chosen):
        progress(f"profile {name}", index, len(chosen))
        spec = get_model_spec(name)
        with torch.device("meta"):
            model = create_model(name).eval()  # built once: profiled and drawn
        report, flow = profile_flow(model, spec.input_size)
        drawing = page_drawing(model, spec.input_size, (report, flow), name)
        reference = references.get(name)
        same = (
            measured_setting(name, reference)
            == (tuple(spec.input_size), {"num_classes": spec.num_classes})
            or reference is None
        )
        row = compare_row(name, reference, report if same else None)
        compared[name] = row
        pages.setdefault(spec.family, []).append(
            ModelPage(name, report, row, stages(report), drawing)
        )
    families = []
    for family, models in pages.items():
        title, intro, deviations = split_doc(family_doc(family))
        models.sort(key=lambda m: (get_model_spec(m.name).year, m.report.totals.params))
        papers = tuple(dict.fromkeys(get_model_spec(m.name).paper for m in models))
        families.append(FamilyPage(family, title, papers, intro, deviations, tuple(models)))
    evolution = tuple(compared[n] for n in default_names() if n in compared)
    return Zoo(evolution, tuple(families))
