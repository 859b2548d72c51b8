"""Drawing graphs of modules (a cell, a stage, a whole network) with Graphviz's ``dot``.

A :class:`Graph` is data: :class:`Node` s (a label, a kind that picks the face colour, an optional
sub-label such as a stride mark), :class:`Edge` s (optional labels; a hidden edge only orders the
layout) and nested :class:`Group` s, drawn as titled boxes around their members (a cell, a stage,
a residual block). :func:`to_dot` writes it as DOT text in which every piece of caller text is
escaped (labels as HTML-like labels, :func:`html_text`; other values as quoted strings,
:func:`dot_string`), and Graphviz's ``dot`` program (https://graphviz.org; Debian's ``graphviz``)
lays it out and renders it, run as a subprocess with a timeout: :func:`render` returns SVG or PNG
bytes, :func:`save_graph` writes the files atomically (:func:`cnnzoo.files.write_atomic`), and
:func:`layout` reads dot's placement back (``-Tjson``) as boxes and arrow paths in inches, for
callers and tests that check a picture's geometry.

No Python binding is used: the DOT text is small and written here, and ``dot`` is the only thing
run. A missing ``dot`` raises :class:`GraphvizError` naming the program and how to install it.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cnnzoo.files import write_atomic

DOT_PROGRAM = "dot"
INSTALL_HINT = "install it with 'apt-get install graphviz'"
DOT_TIMEOUT_S = 60.0  # seconds; dot lays out a few hundred boxes in well under one
FORMATS = ("png", "svg")  # what save_graph writes by default
DIRECTIONS = ("LR", "TB", "RL", "BT")  # dot's rankdir: the way the arrows flow
POINTS_PER_INCH = 72.0  # dot's coordinates are points

# Face colour per node kind (ColorBrewer pastels, as in the paper-style figures); a kind not
# listed gets DEFAULT_FACE. The kinds are a graph of modules' vocabulary: inputs and outputs,
# convolutions (plain and separable), pooling, identity/skip, combining nodes (add, concat),
# normalisation, activation, fully connected layers.
FACES: Mapping[str, str] = MappingProxyType(
    {
        "input": "#d9d9d9",
        "output": "#dadaeb",
        "conv": "#fdae6b",
        "sep": "#fdd0a2",
        "pool": "#9ecae1",
        "identity": "#f0f0f0",
        "combine": "#a1d99b",
        "norm": "#e5f5e0",
        "act": "#fee6ce",
        "fc": "#bcbddc",
    }
)
DEFAULT_FACE = "#ffffff"
FONT = "DejaVu Sans"  # matplotlib's default font: graphs and charts read alike
FONT_SIZE = 9.0  # points, node labels
SUBLABEL_FONT_SIZE = 7.0  # points, a node's sub-label (a stride mark) beside its label
EDGE_FONT_SIZE = 8.0  # points, edge labels
GROUP_FONT_SIZE = 11.0  # points, a group's title
TITLE_FONT_SIZE = 14.0  # points, the graph's title
TEXT_COLOUR = "#000000"
SUBLABEL_COLOUR = "#555555"  # a sub-label is secondary: grey
LINE_COLOUR = "#404040"  # box outlines
LINE_WIDTH = 0.8  # points, box outlines
EDGE_COLOUR = "#595959"
EDGE_WIDTH = 0.8  # points
ARROW_SIZE = 0.6  # dot's arrowsize: a fraction of its 10-point arrowhead
GROUP_FILL = "#f7f7f7"  # behind a group's members, so that a cell or stage reads as one
GROUP_LINE = "#bdbdbd"
GROUP_MARGIN = 8.0  # points between a framed group's box and its members
UNFRAMED_MARGIN = 3.0  # points around an unframed group: a little air between such groups
NODE_HEIGHT = 0.3  # inches; the least box height (a one-line label fits)
NODE_MARGIN = (0.08, 0.03)  # inches between a label and its box's sides (x, y)
RANK_SEP = 0.3  # inches between successive columns (LR) or rows (TB): room for the arrows
NODE_SEP = 0.12  # inches between neighbouring boxes of one column or row
GRAPH_MARGIN = 0.08  # inches around the drawing
PNG_DPI = 150  # pixels per inch of a PNG
TEXT_DESCENT = 0.25  # of the font size: how far a text's box reaches below its baseline
REPLACEMENT = "\ufffd"  # stands in for a control character (XML cannot carry one)


class GraphvizError(ValueError):
    """``dot`` is missing, failed or took too long; the message is one line.

    A ``ValueError`` so that the command line's error boundary (:mod:`cnnzoo.failures`) prints it
    as one line instead of a traceback.
    """


@dataclass(frozen=True)
class Node:
    """One box: a module, an input or output, a combining operation.

    Attributes:
        id: unique among the graph's nodes and groups; the ``id`` of the node's SVG element
            (as given, unless it holds an XML entity or a control character).
        label: the text in the box (line breaks start new lines).
        kind: picks the face colour (a key of the style's ``faces``, such as ``conv``).
        sublabel: smaller grey text after the label (a stride mark such as ``/2``), or ``""``.
        group: the id of the innermost :class:`Group` the node belongs to, or ``None``.
    """

    id: str
    label: str
    kind: str = ""
    sublabel: str = ""
    group: str | None = None


@dataclass(frozen=True)
class Edge:
    """An arrow from ``source`` to ``target`` (node ids).

    Attributes:
        source: the node it leaves.
        target: the node it points at.
        label: text beside the arrow (a tensor shape, say), or ``""``.
        hidden: a layout-only edge: not drawn, but it keeps ``target`` after ``source`` (to place
            two groups side by side, for one).
        dashed: drawn dashed (a shortcut, as the papers draw one).
    """

    source: str
    target: str
    label: str = ""
    hidden: bool = False
    dashed: bool = False


@dataclass(frozen=True)
class Group:
    """A titled box around some nodes (and groups): a cell, a stage, a block.

    The layout keeps a group's members together; arrows between them stay inside its box and
    below its title.

    Attributes:
        id: unique among the graph's nodes and groups; the ``id`` of the group's SVG element.
        label: the title above the box (``""``: none).
        parent: the id of the group this one sits in, or ``None``.
        framed: draw the box and title; an unframed group only keeps its members together
            (the two operations and the combine of a NASNet block, say).
    """

    id: str
    label: str = ""
    parent: str | None = None
    framed: bool = True


@dataclass(frozen=True)
class Graph:
    """A directed graph of modules; constructing one checks it (``ValueError`` if malformed).

    Attributes:
        nodes: the boxes, in the order they are given to the layout (it keeps it where it can).
        edges: the arrows.
        groups: the clusters, parents before or after their children; where the edges allow,
            sibling groups are drawn in this order (top to bottom in ``LR``, left to right in
            ``TB``).
        direction: ``LR`` (arrows run left to right), ``TB`` (top to bottom), ``RL`` or ``BT``.
        title: a title above the drawing, or ``""``.
        ranks: node ids kept in one column (``LR``, ``RL``) or row (``TB``, ``BT``), in the
            given order: top to bottom in a column, left to right in a row (a cell's inputs).
    """

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...] = ()
    groups: tuple[Group, ...] = ()
    direction: str = "LR"
    title: str = ""
    ranks: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        for name in ("nodes", "edges", "groups"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "ranks", tuple(tuple(r) for r in self.ranks))
        check_graph(self)

    def node(self, node_id: str) -> Node:
        """The node called ``node_id`` (``KeyError`` if none)."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def sources(self, node_id: str) -> list[str]:
        """The ids of the nodes with a drawn edge into ``node_id``, in edge order."""
        return [e.source for e in self.edges if e.target == node_id and not e.hidden]


def check_graph(graph: Graph) -> None:
    """Raise ``ValueError`` naming the first problem: a repeated id, an edge, membership or rank
    that names no node or group, a group inside itself, a node in two ranks, an unknown
    direction."""
    counts = Counter([n.id for n in graph.nodes] + [g.id for g in graph.groups])
    repeated = sorted(i for i, k in counts.items() if k > 1)
    if repeated:
        raise ValueError(f"graph: ids must be unique among nodes and groups; repeated: {repeated}")
    nodes, groups = {n.id for n in graph.nodes}, {g.id: g for g in graph.groups}
    for e in graph.edges:
        for end in (e.source, e.target):
            if end not in nodes:
                raise ValueError(f"graph: edge {e.source!r} -> {e.target!r} names no node {end!r}")
    for member, group in [(n.id, n.group) for n in graph.nodes] + [
        (g.id, g.parent) for g in graph.groups
    ]:
        if group is not None and group not in groups:
            raise ValueError(f"graph: {member!r} is in group {group!r}, which does not exist")
    for g in graph.groups:
        list(_ancestors(g.id, groups))  # raises on a cycle
    ranked = [i for rank in graph.ranks for i in rank]
    if set(ranked) - nodes or len(ranked) != len(set(ranked)):
        raise ValueError(f"graph: ranks name unknown or repeated nodes: {graph.ranks}")
    if graph.direction not in DIRECTIONS:
        raise ValueError(f"graph: direction {graph.direction!r} is not one of {DIRECTIONS}")


def _ancestors(group_id: str, groups: Mapping[str, Group]) -> Iterator[str]:
    """The parents of a group, innermost first; ``ValueError`` if a group contains itself."""
    seen, parent = {group_id}, groups[group_id].parent
    while parent is not None:
        if parent in seen:
            raise ValueError(f"graph: group {group_id!r} is inside itself")
        seen.add(parent)
        yield parent
        parent = groups[parent].parent


@dataclass(frozen=True)
class Style:
    """How a graph looks; every default is a named constant of this module.

    Attributes:
        faces: node kind -> face colour; other kinds get ``default_face``.
        same_width: every box as wide as the widest (columns align, as in a paper's figure);
            costs one extra run of ``dot``. Otherwise each box fits its own label.
        png_dpi: pixels per inch of PNG output (SVG is in points).
    """

    faces: Mapping[str, str] = field(default_factory=lambda: FACES)
    default_face: str = DEFAULT_FACE
    font: str = FONT
    font_size: float = FONT_SIZE
    sublabel_font_size: float = SUBLABEL_FONT_SIZE
    edge_font_size: float = EDGE_FONT_SIZE
    group_font_size: float = GROUP_FONT_SIZE
    title_font_size: float = TITLE_FONT_SIZE
    sublabel_colour: str = SUBLABEL_COLOUR
    line_colour: str = LINE_COLOUR
    line_width: float = LINE_WIDTH
    edge_colour: str = EDGE_COLOUR
    edge_width: float = EDGE_WIDTH
    arrow_size: float = ARROW_SIZE
    group_fill: str = GROUP_FILL
    group_line: str = GROUP_LINE
    group_margin: float = GROUP_MARGIN
    unframed_margin: float = UNFRAMED_MARGIN
    node_height: float = NODE_HEIGHT
    node_margin: tuple[float, float] = NODE_MARGIN
    rank_sep: float = RANK_SEP
    node_sep: float = NODE_SEP
    margin: float = GRAPH_MARGIN
    same_width: bool = True
    png_dpi: int = PNG_DPI


STYLE = Style()


# --- DOT text --------------------------------------------------------------------------------


def _printable(text: str) -> str:
    """``text`` with each control character (other than the line breaks handled by the callers)
    replaced, since neither DOT nor the SVG's XML can carry them."""
    return "".join(REPLACEMENT if unicodedata.category(c) == "Cc" else c for c in text)


def html_text(text: str) -> str:
    """``text`` for the inside of a DOT HTML-like label: ``& < > " '`` as entities, each line
    break as ``<br/>``, control characters replaced; backslashes stay literal there."""
    lines = str(text).splitlines() or [""]
    return "<br/>".join(html.escape(_printable(line), quote=True) for line in lines)


def dot_string(text: str) -> str:
    """``text`` as a double-quoted DOT string: backslashes and quotes escaped, line breaks as
    ``\\n``, control characters replaced."""
    lines = str(text).splitlines() or [""]
    body = "\\n".join(_printable(s).replace("\\", "\\\\").replace('"', '\\"') for s in lines)
    return f'"{body}"'


@dataclass(frozen=True)
class _Html:
    """An attribute value written as an HTML-like label, ``<...>``; ``text`` is escaped."""

    text: str


def _value(v: Any) -> str:
    """One attribute value in DOT: numbers as they are, :class:`_Html` in angle brackets, any
    other value as a quoted string (:func:`dot_string`)."""
    if isinstance(v, _Html):
        return f"<{v.text}>"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, int):
        return str(v)
    return dot_string(v)


def _attrs(values: Mapping[str, Any]) -> str:
    """``[k=v, ...]`` of :func:`_value` s."""
    return "[" + ", ".join(f"{k}={_value(v)}" for k, v in values.items()) + "]"


def _node_label(node: Node, style: Style) -> _Html:
    """The node's HTML-like label: its text, then its sub-label smaller and grey."""
    text = html_text(node.label)
    if node.sublabel:
        text += (
            f'&#160;<font point-size="{style.sublabel_font_size:g}" '
            f'color="{html.escape(style.sublabel_colour)}">{html_text(node.sublabel)}</font>'
        )
    return _Html(text)


def _defaults(graph: Graph, style: Style, node_width: float | None) -> list[str]:
    """The graph, node and edge default attribute lines."""
    graph_attrs: dict[str, Any] = {
        "rankdir": graph.direction,
        "newrank": "true",  # rank constraints hold inside groups too
        "nodesep": style.node_sep,
        "ranksep": style.rank_sep,
        "pad": style.margin,
        "margin": 0.0,
        "bgcolor": "white",
        "fontname": style.font,
        "fontsize": style.title_font_size,
        "labelloc": "t",
        "charset": "UTF-8",
    }
    if graph.title:
        graph_attrs["label"] = _Html(html_text(graph.title))
    node_attrs: dict[str, Any] = {
        "shape": "box",
        "style": "rounded,filled",
        "fontname": style.font,
        "fontsize": style.font_size,
        "fontcolor": TEXT_COLOUR,
        "color": style.line_colour,
        "penwidth": style.line_width,
        "height": style.node_height,
        "margin": f"{style.node_margin[0]:g},{style.node_margin[1]:g}",
    }
    if node_width is not None:
        node_attrs["width"] = node_width
    edge_attrs = {
        "color": style.edge_colour,
        "penwidth": style.edge_width,
        "arrowsize": style.arrow_size,
        "fontname": style.font,
        "fontsize": style.edge_font_size,
    }
    return [
        f"graph {_attrs(graph_attrs)};",
        f"node {_attrs(node_attrs)};",
        f"edge {_attrs(edge_attrs)};",
    ]


def _node_line(node: Node, name: str, style: Style) -> str:
    """One node statement: its synthetic DOT name, label, face and SVG id."""
    face = style.faces.get(node.kind, style.default_face)
    return (
        f"{name} {_attrs({'label': _node_label(node, style), 'fillcolor': face, 'id': node.id})};"
    )


def _cluster_heads(group: Group, style: Style, direction: str) -> list[dict[str, Any]]:
    """The attributes of a group's nested clusters, outermost first. A framed group with a title
    is two: the framed one holding the title, and inside it an invisible one holding the
    members, so that dot routes the members' arrows below the title, never across it."""
    if not group.framed:
        return [{"style": "invis", "label": "", "margin": style.unframed_margin, "id": group.id}]
    frame = {
        "style": "rounded,filled",
        "fillcolor": style.group_fill,
        "color": style.group_line,
        "penwidth": style.line_width,
        "fontsize": style.group_font_size,
        "labeljust": "c" if _sideways(direction) else "l",  # clear of arrows entering it
        "margin": style.group_margin,
        "label": _Html(html_text(group.label)),
        "id": group.id,
    }
    if not group.label:
        return [frame]
    return [frame, {"style": "invis", "label": "", "margin": 0.0, "id": f"{group.id}-body"}]


def _group_lines(graph: Graph, style: Style, names: Mapping[str, str]) -> list[str]:
    """The cluster subgraphs (``cluster_<group index>``, nested), each declaring its members.

    dot stacks the sibling clusters of an ``LR`` or ``RL`` drawing bottom-up in the order of the
    DOT text, so there they are written in reverse: the group given first is drawn on top."""
    children: dict[str | None, list[Group]] = {}
    ordered = reversed(graph.groups) if _sideways(graph.direction) else graph.groups
    for g in ordered:
        children.setdefault(g.parent, []).append(g)
    members: dict[str | None, list[Node]] = {}
    for n in graph.nodes:
        members.setdefault(n.group, []).append(n)
    index = {g.id: i for i, g in enumerate(graph.groups)}

    def block(group: Group) -> list[str]:
        body = [_node_line(n, names[n.id], style) for n in members.get(group.id, [])]
        body += [line for child in children.get(group.id, []) for line in block(child)]
        heads = _cluster_heads(group, style, graph.direction)
        for depth, head in reversed(list(enumerate(heads))):
            name = f"cluster_{index[group.id]}" + ("_body" if depth else "")
            body = [
                f"subgraph {name} {{",
                f"  graph {_attrs(head)};",
                *("  " + x for x in body),
                "}",
            ]
        return body

    return [line for g in children.get(None, []) for line in block(g)]


def _sideways(direction: str) -> bool:
    """Whether dot draws ``direction`` by turning a top-to-bottom layout on its side, which
    reverses the order of a rank's members and of sibling clusters."""
    return direction in ("LR", "RL")


def _rank_lines(graph: Graph, names: Mapping[str, str]) -> list[str]:
    """A ``rank=same`` subgraph per rank, and hidden edges between its neighbours that fix
    their order (dot keeps a flat edge's tail left of its head, which an ``LR`` or ``RL``
    drawing turns into below it)."""
    flip = _sideways(graph.direction)
    lines = []
    for rank in graph.ranks:
        ids = [names[i] for i in rank]
        lines.append("{rank=same; " + " ".join(f"{n};" for n in ids) + "}")
        for a, b in pairwise(ids):
            tail, head = (b, a) if flip else (a, b)
            lines.append(f'{tail} -> {head} [style="invis"];')
    return lines


def _edge_ids(edges: Iterable[Edge]) -> list[str]:
    """An SVG id per edge: ``source->target``, with ``#k`` from the second parallel edge on."""
    seen: dict[tuple[str, str], int] = {}
    ids = []
    for e in edges:
        k = seen.get((e.source, e.target), 0)
        seen[(e.source, e.target)] = k + 1
        ids.append(f"{e.source}->{e.target}" + (f"#{k}" if k else ""))
    return ids


def _edge_line(edge: Edge, edge_id: str, names: Mapping[str, str]) -> str:
    """One edge statement between the synthetic names of its ends."""
    attrs: dict[str, Any] = {"id": edge_id}
    if edge.label:
        attrs["label"] = _Html(html_text(edge.label))
    if edge.hidden:
        attrs["style"] = "invis"
    elif edge.dashed:
        attrs["style"] = "dashed"
    return f"{names[edge.source]} -> {names[edge.target]} {_attrs(attrs)};"


def to_dot(graph: Graph, style: Style = STYLE, *, node_width: float | None = None) -> str:
    """The DOT text of ``graph``.

    Nodes get synthetic DOT names (``n0``, ``n1``, ...), so that no caller text is ever a DOT
    identifier; labels are HTML-like labels (:func:`html_text`) and ids quoted strings
    (:func:`dot_string`).

    Args:
        graph: the graph.
        style: colours, fonts and spacing.
        node_width: every box at least this wide (inches), or ``None`` for dot's default.

    Returns:
        A ``digraph`` in DOT.
    """
    names = {n.id: f"n{i}" for i, n in enumerate(graph.nodes)}
    lines = ["digraph cnnzoo {", *_defaults(graph, style, node_width)]
    lines += _group_lines(graph, style, names)
    lines += [_node_line(n, names[n.id], style) for n in graph.nodes if n.group is None]
    ids = _edge_ids(graph.edges)
    lines += [_edge_line(e, i, names) for e, i in zip(graph.edges, ids, strict=True)]
    lines += _rank_lines(graph, names)
    return "\n".join([lines[0], *("  " + line for line in lines[1:]), "}", ""])


# --- running dot ------------------------------------------------------------------------------


def find_dot() -> str:
    """The path of Graphviz's ``dot`` on ``PATH``.

    Raises:
        GraphvizError: it is not there (the message says how to install it).
    """
    path = shutil.which(DOT_PROGRAM)
    if path is None:
        raise GraphvizError(
            f"cannot draw the graph: Graphviz's '{DOT_PROGRAM}' program is not on PATH; "
            f"{INSTALL_HINT}"
        )
    return path


def run_dot(
    dot_text: str, fmt: str, *, dpi: int | None = None, timeout: float = DOT_TIMEOUT_S
) -> bytes:
    """Lay out and render DOT text with ``dot -T<fmt>``.

    Args:
        dot_text: a graph in DOT.
        fmt: dot's output format (``svg``, ``png``, ``json``, ...).
        dpi: pixels per inch for bitmap formats, or ``None`` for dot's 96.
        timeout: seconds before dot is stopped.

    Returns:
        dot's output.

    Raises:
        GraphvizError: dot is missing, fails (its first error line is quoted) or times out.
    """
    command = [find_dot(), f"-T{fmt}"] + ([f"-Gdpi={dpi}"] if dpi else [])
    try:
        done = subprocess.run(
            command, input=dot_text.encode("utf-8"), capture_output=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise GraphvizError(f"dot took longer than {timeout:g} s to lay out the graph") from None
    if done.returncode != 0:
        errors = done.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = errors[0] if errors else f"exit status {done.returncode}"
        raise GraphvizError(f"dot -T{fmt} failed: {reason}")
    return done.stdout


def _dot_text(graph: Graph, style: Style) -> str:
    """The DOT text to render: with ``style.same_width``, every box widened to the widest box
    of a first layout."""
    if not style.same_width:
        return to_dot(graph, style)
    natural = _parse_layout(graph, run_dot(to_dot(graph, style), "json"))
    width = max((box.width for box in natural.nodes.values()), default=None)
    return to_dot(graph, style, node_width=width)


def _render_text(dot_text: str, fmt: str, style: Style) -> bytes:
    """:func:`run_dot` with the style's resolution for PNG."""
    return run_dot(dot_text, fmt, dpi=style.png_dpi if fmt == "png" else None)


def render(graph: Graph, fmt: str, style: Style = STYLE) -> bytes:
    """``graph`` drawn by dot, as ``svg`` or ``png`` bytes (PNG at ``style.png_dpi``).

    Raises:
        GraphvizError: dot is missing, fails or times out.
    """
    return _render_text(_dot_text(graph, style), fmt, style)


def save_graph(
    graph: Graph, path_stem: str | Path, style: Style = STYLE, formats: Iterable[str] = FORMATS
) -> tuple[Path, ...]:
    """Draw ``graph`` to ``<stem>.<format>`` for each format, each file written atomically.

    Args:
        graph: the graph.
        path_stem: the file path without its suffix (its folder is created if missing).
        style: colours, fonts and spacing.
        formats: dot output formats, ``png`` and ``svg`` by default.

    Returns:
        The paths written, in ``formats`` order.

    Raises:
        GraphvizError: dot is missing, fails or times out (no file is written then).
    """
    stem = Path(path_stem)
    dot_text = _dot_text(graph, style)
    drawn = {fmt: _render_text(dot_text, fmt, style) for fmt in formats}  # all, before any write
    return tuple(
        write_atomic(stem.with_name(f"{stem.name}.{fmt}"), lambda tmp, d=data: tmp.write_bytes(d))
        for fmt, data in drawn.items()
    )


# --- reading the layout back ------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """A rectangle in inches, measured from the drawing's top-left corner, y downwards."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    def overlaps(self, other: Box) -> bool:
        """Whether the two rectangles share more than an edge."""
        return (
            self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1
        )

    def contains(self, x: float, y: float) -> bool:
        """Whether ``(x, y)`` is strictly inside."""
        return self.x0 < x < self.x1 and self.y0 < y < self.y1


Point = tuple[float, float]


def _bezier(p0: Point, p1: Point, p2: Point, p3: Point, t: float) -> Point:
    """The point at ``t`` (0..1) of a cubic Bezier segment."""
    w = ((1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t**3)
    ps = (p0, p1, p2, p3)
    return (
        sum(c * p[0] for c, p in zip(w, ps, strict=True)),
        sum(c * p[1] for c, p in zip(w, ps, strict=True)),
    )


@dataclass(frozen=True)
class Route:
    """The path of one drawn edge, in inches (top-left origin, y downwards).

    Attributes:
        source: the node the edge leaves.
        target: the node it points at.
        curves: dot's piecewise cubic Beziers (usually one): each a start point, then three
            control points per segment; the last curve ends where the arrowhead begins.
        tip: the arrowhead's point (on the target's border), or ``None`` without an arrowhead.
    """

    source: str
    target: str
    curves: tuple[tuple[Point, ...], ...]
    tip: Point | None

    def polyline(self, steps: int = 8) -> list[Point]:
        """Points along the curves, ``steps`` per Bezier segment, then the tip."""
        out = []
        for points in self.curves:
            out.append(points[0])
            for i in range(0, len(points) - 3, 3):
                segment = points[i : i + 4]
                out += [_bezier(*segment, s / steps) for s in range(1, steps + 1)]
        return out + ([self.tip] if self.tip else [])


@dataclass(frozen=True)
class Layout:
    """Where dot put everything, in inches (top-left origin, y downwards).

    Attributes:
        width: the drawing's width (dot's bounding box; the files add ``style.margin`` a side).
        height: its height.
        nodes: node id -> its box.
        labels: node id -> the box around its text (label and sub-label), as dot measured it.
        groups: group id -> its box (title included).
        titles: group id -> the box of its title (framed groups with a title only).
        routes: one per drawn (not hidden) edge, in the graph's edge order.
    """

    width: float
    height: float
    nodes: Mapping[str, Box]
    labels: Mapping[str, Box]
    groups: Mapping[str, Box]
    titles: Mapping[str, Box]
    routes: tuple[Route, ...]


def _numbers(text: str) -> list[float]:
    """``"1.5,2"`` -> ``[1.5, 2.0]``."""
    return [float(v) for v in text.split(",")]


def _centred_box(centre: Point, width: float, height: float) -> Box:
    """The box of ``width`` x ``height`` inches around ``centre``."""
    (cx, cy), w, h = centre, width / 2, height / 2
    return Box(cx - w, cy - h, cx + w, cy + h)


def _text_box(ops: Iterable[Mapping[str, Any]], at) -> Box | None:
    """The box around the text an ``_ldraw_`` list sets: each piece is as wide as dot measured
    it and spans its font size, ``TEXT_DESCENT`` of it below the baseline."""
    size, boxes = 0.0, []
    for op in ops:
        if op["op"] == "F":
            size = op["size"]
        elif op["op"] == "T":
            (x, y), w = op["pt"], op["width"]
            x0 = x - {"l": 0.0, "c": w / 2, "r": w}[op["align"]]
            boxes.append(
                Box(*at(x0, y + size * (1 - TEXT_DESCENT)), *at(x0 + w, y - size * TEXT_DESCENT))
            )
    if not boxes:
        return None
    return Box(
        min(b.x0 for b in boxes),
        min(b.y0 for b in boxes),
        max(b.x1 for b in boxes),
        max(b.y1 for b in boxes),
    )


def _parse_layout(graph: Graph, data: bytes) -> Layout:
    """A :class:`Layout` from ``dot -Tjson`` output for ``to_dot(graph)``."""
    doc = json.loads(data)
    left, bottom, right, top = _numbers(doc["bb"])

    def at(x: float, y: float) -> Point:  # points, y up -> inches from the top-left, y down
        return (x - left) / POINTS_PER_INCH, (top - y) / POINTS_PER_INCH

    nodes, labels, groups, titles, names = {}, {}, {}, {}, {}
    for obj in doc.get("objects", []):
        name, text = obj["name"], _text_box(obj.get("_ldraw_", []), at)
        if re.fullmatch(r"cluster_\d+", name):
            group_id = graph.groups[int(name[8:])].id
            x0, y0, x1, y1 = _numbers(obj["bb"])
            groups[group_id] = Box(*at(x0, y1), *at(x1, y0))
            if "lp" in obj and obj.get("label"):
                titles[group_id] = _centred_box(
                    at(*_numbers(obj["lp"])), float(obj["lwidth"]), float(obj["lheight"])
                )
        elif re.fullmatch(r"n\d+", name):  # else a group's inner cluster or a rank's subgraph
            node_id = names[obj["_gvid"]] = graph.nodes[int(name[1:])].id
            nodes[node_id] = _centred_box(
                at(*_numbers(obj["pos"])), float(obj["width"]), float(obj["height"])
            )
            if text is not None:
                labels[node_id] = text
    routes = _parse_routes(graph, doc.get("edges", []), names, at)
    return Layout(*at(right, bottom), nodes, labels, groups, titles, routes)


def _parse_routes(
    graph: Graph, edges: Iterable[Mapping[str, Any]], names: Mapping[int, str], at
) -> tuple[Route, ...]:
    """The drawn edges' routes in the graph's edge order. dot lists edges by their tail node, so
    each is matched by its ends (parallel edges in the order they were given)."""
    found: dict[tuple[str, str], list[Route]] = {}
    for edge in edges:
        if edge.get("style") != "invis":
            route = _route(edge, names, at)
            found.setdefault((route.source, route.target), []).append(route)
    return tuple(found[(e.source, e.target)].pop(0) for e in graph.edges if not e.hidden)


def _route(edge: Mapping[str, Any], names: Mapping[int, str], at) -> Route:
    """One edge's :class:`Route` from its json object: ``pos`` holds one or more curves,
    ``;``-separated, each ``[s,x,y] [e,x,y] point point ...``."""
    tip, curves = None, []
    for curve in edge["pos"].split(";"):
        points = []
        for token in curve.split():
            if token.startswith("e,"):
                tip = at(*_numbers(token[2:]))
            elif not token.startswith("s,"):
                points.append(at(*_numbers(token)))
        curves.append(tuple(points))
    return Route(names[edge["tail"]], names[edge["head"]], tuple(curves), tip)


def layout(graph: Graph, style: Style = STYLE) -> Layout:
    """Where dot puts ``graph``'s boxes and arrows (``dot -Tjson``), in inches.

    Raises:
        GraphvizError: dot is missing, fails or times out.
    """
    return _parse_layout(graph, run_dot(_dot_text(graph, style), "json"))
