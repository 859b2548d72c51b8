"""A network's drawing for a web page: the SVG of its blocks, and for each block the SVG of its
layers (its inner blocks, such as an Inception module's conv-BN-ReLU layers or a NASNet cell's
operations, one node each), to be shown when the block is clicked (``report``'s
``diagram.js``).

Blocks with the same layers (class, layer types and output shapes) share one expanded drawing,
so that a page of deep networks stays small: the drawing is of the first such block, and its
title names the blocks it stands for.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from torch import nn

from cnnzoo.analysis.profiler import Flow
from cnnzoo.analysis.report import Report
from cnnzoo.draw.diagram import STYLE, Diagram, branch_ranks, diagram, graph_parts, shortcut_inputs
from cnnzoo.viz.graph import Graph, render

PAGE_STYLE = dataclasses.replace(STYLE, same_width=False)  # one run of dot per drawing
XML_HEAD = re.compile(r"^.*?(?=<svg)", re.S)  # dot's XML declaration and doctype
ROOT_ID = re.compile(r'id="graph0"')  # dot's id of the drawing's root group
COMMENT = re.compile(r"<!--.*?-->\n?", re.S)  # dot's comments (the DOT names of its elements)


@dataclass(frozen=True)
class PageDrawing:
    """Inline SVG of a model and of its blocks' layers.

    Args:
        svg: the model, blocks collapsed; node ids ``<prefix>/<module path>``.
        blocks: node id -> the key of its expanded drawing.
        expanded: ``(key, title, svg)`` per distinct block.
    """

    svg: str
    blocks: dict[str, str]
    expanded: tuple[tuple[str, str, str], ...]

    @property
    def blocks_json(self) -> str:
        return json.dumps(self.blocks)


def inline_svg(graph: Graph, key: str) -> str:
    """``graph`` as an ``<svg>`` element for the inside of an HTML page; ``key`` names its root
    group (dot calls every drawing's ``graph0``, and an id is once per page)."""
    svg = XML_HEAD.sub("", render(graph, "svg", PAGE_STYLE).decode("utf-8"), count=1)
    svg = ROOT_ID.sub(f'id="{html.escape(key, quote=True)}~graph"', svg, count=1)
    return COMMENT.sub("", svg)


def same_layers(
    top: Diagram, report: Report, prefix: str
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The collapsed blocks of ``top`` keyed by their layers (class, layer types and output
    shapes): node id -> key, and key -> the node ids that share it (the first is drawn)."""
    rows = {r.name: r for r in report.rows}
    signatures: dict[tuple, str] = {}
    blocks: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    for node in top.nodes:
        if not node.block:
            continue
        layers = tuple(
            (name.removeprefix(node.name), rows[name].type, rows[name].output_shape)
            for name in node.rows
        )
        key = signatures.setdefault((node.type, layers), f"{prefix}~{node.id}")
        blocks[f"{prefix}/{node.id}"] = key
        members.setdefault(key, []).append(node.id)
    return blocks, members


def page_drawing(
    model: nn.Module,
    input_size: tuple[int, int, int],
    traced: tuple[Report, Flow],
    prefix: str,
) -> PageDrawing:
    """The drawings of one model for its family's page.

    Args:
        model: the network (a meta-device copy is enough).
        input_size: ``(C, H, W)``.
        traced: its ``profile_flow``.
        prefix: makes the SVG ids unique on the page (the model's name).
    """
    shortcuts = shortcut_inputs(*traced)
    top = diagram(model, input_size, label=prefix, traced=traced, shortcuts=shortcuts)
    nodes, edges, groups = graph_parts(top, f"{prefix}/")
    ranks = branch_ranks(top, f"{prefix}/")
    graphs = [(prefix, Graph(nodes, edges, groups, "TB", top.caption, ranks))]
    blocks, members = same_layers(top, traced[0], prefix)
    titles = []
    for key, names in members.items():
        block = names[0]
        alone = diagram(
            model,
            input_size,
            label=prefix,
            block=block,
            traced=traced,
            shortcuts=shortcuts,
        )
        n, e, g = graph_parts(alone, f"{key}/")
        same = f" (the same layers as {', '.join(names[1:])})" if len(names) > 1 else ""
        titles.append((key, f"layers of {block}{same}"))
        graphs.append((key, Graph(n, e, g, direction="TB", ranks=branch_ranks(alone, f"{key}/"))))
    svgs = render_all(graphs)
    expanded = tuple((key, title, svg) for (key, title), svg in zip(titles, svgs[1:], strict=True))
    return PageDrawing(svgs[0], blocks, expanded)


def render_all(graphs: list[tuple[str, Graph]]) -> list[str]:
    """:func:`inline_svg` of each ``(key, graph)``, in order; one ``dot`` process per core at a
    time (``dot`` is single-threaded and most of a page's drawing time)."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(lambda item: inline_svg(item[1], item[0]), graphs))
