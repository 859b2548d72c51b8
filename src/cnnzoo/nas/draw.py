"""Pictures of the search: a genotype's two cells drawn like Fig. 4 of Zoph et al. 2018
(https://arxiv.org/abs/1707.07012), the best-so-far curve of a search, and its candidates'
accuracy against MACs with the Pareto front.

The layout is pure data (:func:`cell_graph`, :func:`cell_layout`, :func:`search_curve`,
:func:`~cnnzoo.nas.pareto.pareto_front`); drawing
goes on a bare ``matplotlib.figure.Figure`` (Agg canvas, no pyplot, no display), and files are
written atomically (:func:`cnnzoo.files.write_atomic`).

Cell pictures read left to right: the cell's inputs ``h_i`` (hidden state 0, the previous cell's
output) and ``h_{i-1}`` (hidden state 1) in column 0, then each node one column after the furthest
node feeding it: per block two operations, the combine (``add`` / ``concat``) that is hidden state
``j + 2``, and the cell's output ``concat`` last. In a reduction cell an operation on an input state
strides by 2 (``models/nasnet.py``); its box says so.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from cnnzoo.files import write_atomic
from cnnzoo.models.genotype import NUM_INPUTS, CellGenotype, Genotype

# genotype.OPERATION_NAMES -> (label in the picture, kind of box); the labels follow Fig. 4.
OPERATION_LABELS: dict[str, tuple[str, str]] = {
    "identity": ("identity", "identity"),
    "conv_1x3_3x1": ("1x3+3x1 conv", "conv"),
    "conv_1x7_7x1": ("1x7+7x1 conv", "conv"),
    "dil_conv_3x3": ("dil 3x3 conv", "conv"),
    "avg_pool_3x3": ("avg 3x3", "pool"),
    "max_pool_3x3": ("max 3x3", "pool"),
    "max_pool_5x5": ("max 5x5", "pool"),
    "max_pool_7x7": ("max 7x7", "pool"),
    "conv_1x1": ("conv 1x1", "conv"),
    "conv_3x3": ("conv 3x3", "conv"),
    "sep_conv_3x3": ("sep 3x3", "sep"),
    "sep_conv_5x5": ("sep 5x5", "sep"),
    "sep_conv_7x7": ("sep 7x7", "sep"),
}
INPUT_LABELS = ("h_i", "h_{i-1}")  # hidden states 0 and 1 (Fig. 4's h_i, h_{i-1})

# Box face colour per node kind (input, operation kinds, combine, output).
NODE_COLOURS = {
    "input": "#d9d9d9",
    "conv": "#fdae6b",
    "sep": "#fdd0a2",
    "pool": "#9ecae1",
    "identity": "#f0f0f0",
    "combine": "#a1d99b",
    "output": "#dadaeb",
}
# Cell pictures are laid out in inches (one data unit = one inch, so text and boxes share a
# scale): the box width is the widest label at LABEL_FONT_SIZE plus LABEL_PAD a side, shared by
# every box of the figure so that columns align.
LABEL_FONT_SIZE = 8.0  # points
STRIDE_FONT_SIZE = 6.0
LABEL_PAD = 0.09  # inches between a label and its box's side
STRIDE_GAP = 0.04  # inches between a label and its stride mark
MIN_BOX_WIDTH = 0.55
BOX_HEIGHT = 0.3
COLUMN_GAP = 0.45  # inches between the boxes of adjacent columns: room for the arrows
ROW_PITCH = 0.46  # inches per row unit (boxes of a column are at least a row apart)
LANE_CLEARANCE = 0.05  # inches between an arrow passing a column and that column's boxes
CELL_MARGIN = 0.12  # inches around a cell's drawing
TITLE_SPACE = 0.32  # inches above a cell for its title
TITLE_FONT_SIZE = 10.0
CELL_GAP = 0.15  # inches between the two cells
MAX_SIDE_BY_SIDE_WIDTH = 13.0  # inches; wider pairs are stacked
DPI = 150
SEARCH_CURVE_SIZE = (8.0, 5.0)


@dataclass(frozen=True)
class CellNode:
    """One box of a cell picture.

    Attributes:
        id: unique within the graph (``in0``, ``in1``, ``b{j}op{k}``, ``b{j}``, ``out``).
        label: the text in the box.
        kind: ``input``, ``op``, ``combine`` or ``output``.
        layer: column, 0 for the inputs, else one more than the furthest predecessor.
        row: height in row units, counted downwards from the top box (0.0); boxes of one
            column are at least one row apart, each near the mean height of what feeds it.
        op: the genotype's operation name (``op`` nodes only, else ``""``).
        op_kind: ``conv``, ``sep``, ``pool`` or ``identity`` (``op`` nodes only, else ``""``).
        state: the hidden state the node is (inputs, combines), else ``None``.
        block: the block the node belongs to (ops, combines), else ``None``.
        stride: 2 for an operation on an input state of a reduction cell, else 1.
    """

    id: str
    label: str
    kind: str
    layer: int
    row: float
    op: str = ""
    op_kind: str = ""
    state: int | None = None
    block: int | None = None
    stride: int = 1


@dataclass(frozen=True)
class CellGraph:
    """A cell as boxes and arrows: ``edges`` are ``(source id, target id)`` pairs."""

    nodes: tuple[CellNode, ...]
    edges: tuple[tuple[str, str], ...]
    reduction: bool = False

    def node(self, node_id: str) -> CellNode:
        """The node called ``node_id`` (``KeyError`` if none)."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    @property
    def num_layers(self) -> int:
        return 1 + max(n.layer for n in self.nodes)

    @property
    def height(self) -> float:
        """Rows from the top box to the bottom one, plus one."""
        return 1.0 + max(n.row for n in self.nodes)


def _state_id(state: int) -> str:
    return f"in{state}" if state < NUM_INPUTS else f"b{state - NUM_INPUTS}"


def cell_graph(cell: CellGenotype, *, reduction: bool) -> CellGraph:
    """Lay a cell out as a graph of boxes, Fig. 4's way.

    Args:
        cell: the cell's genotype.
        reduction: whether it is a reduction cell (operations on its input states stride by 2).

    Returns:
        A :class:`CellGraph`: the inputs in column 0; each node one column after its furthest
        predecessor (longest path), so every edge goes left to right; a column keeps the
        blocks' order, each node as near the mean row of its predecessors as one row between
        boxes allows.
    """
    # (id, label, kind, extra fields), predecessors, in creation order
    specs: list[tuple[str, str, str, dict[str, Any]]] = []
    preds: dict[str, list[str]] = {}
    for state in range(NUM_INPUTS):
        specs.append((f"in{state}", INPUT_LABELS[state], "input", {"state": state}))
        preds[f"in{state}"] = []
    for j, block in enumerate(cell.blocks):
        op_ids = []
        for k, (src, op) in enumerate(zip(block.inputs, block.ops, strict=True)):
            label, op_kind = OPERATION_LABELS[op]
            stride = 2 if reduction and src < NUM_INPUTS else 1
            extra = {"op": op, "op_kind": op_kind, "block": j, "stride": stride}
            op_id = f"b{j}op{k}"
            specs.append((op_id, label, "op", extra))
            preds[op_id] = [_state_id(src)]
            op_ids.append(op_id)
        extra = {"state": j + NUM_INPUTS, "block": j}
        specs.append((f"b{j}", block.combine, "combine", extra))
        preds[f"b{j}"] = op_ids
    specs.append(("out", "concat", "output", {}))
    preds["out"] = [_state_id(s) for s in cell.output_states]

    layer: dict[str, int] = {}
    for node_id, *_ in specs:  # creation order is topological: states are read after made
        layer[node_id] = 1 + max((layer[p] for p in preds[node_id]), default=-1)

    row: dict[str, float] = {}
    order = {node_id: i for i, (node_id, *_) in enumerate(specs)}
    group = {node_id: extra.get("block", len(cell.blocks)) for node_id, _, _, extra in specs}
    for col in range(1 + max(layer.values())):
        members = [s[0] for s in specs if layer[s[0]] == col]
        if col == 0:
            row.update((node_id, float(r)) for r, node_id in enumerate(members))
            continue
        # each node wants the mean height of what feeds it; the column keeps block order (a
        # block's two operations side by side, the one fed from higher up first) and is then
        # pushed apart to one row between boxes and shifted back onto the wanted heights
        want = {n: statistics.fmean(row[p] for p in preds[n]) for n in members}
        members.sort(key=lambda n: (group[n], want[n], order[n]))
        placed: list[float] = []
        for n in members:
            placed.append(want[n] if not placed else max(want[n], placed[-1] + 1.0))
        shift = statistics.fmean(want[n] - y for n, y in zip(members, placed, strict=True))
        row.update((n, y + shift) for n, y in zip(members, placed, strict=True))
    top = min(row.values())
    row = {n: y - top for n, y in row.items()}

    nodes = tuple(
        CellNode(node_id, label, kind, layer[node_id], row[node_id], **extra)
        for node_id, label, kind, extra in specs
    )
    edges = tuple((p, node_id) for node_id, *_ in specs for p in preds[node_id])
    return CellGraph(nodes, edges, reduction)


def text_width(label: str, fontsize: float = LABEL_FONT_SIZE) -> float:
    """Width in inches of ``label`` set in matplotlib's default font at ``fontsize`` points."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    width, _, _ = text_to_path.get_text_width_height_descent(
        label, FontProperties(size=fontsize), ismath=False
    )
    return width / 72.0


def _stride_mark(node: CellNode) -> str:
    return f"/{node.stride}" if node.stride != 1 else ""


def _content_width(node: CellNode) -> float:
    """Inches a node's text needs: its label, and its stride mark beside it."""
    width = text_width(node.label)
    if node.stride != 1:
        width += STRIDE_GAP + text_width(_stride_mark(node), STRIDE_FONT_SIZE)
    return width


def box_width(graphs: Iterable[CellGraph]) -> float:
    """The shared box width in inches: the widest text of any node, plus padding."""
    widest = max((_content_width(n) for g in graphs for n in g.nodes), default=0.0)
    return max(MIN_BOX_WIDTH, widest + 2 * LABEL_PAD)


@dataclass(frozen=True)
class CellLayout:
    """A cell graph placed in inches: box centres, one route per edge, and the bounds.

    Attributes:
        box_width: the width of every box (``BOX_HEIGHT`` tall).
        centres: node id -> box centre ``(x, y)``; x grows rightwards, y upwards (top box at 0).
        routes: per edge of the graph, in order, the points the arrow passes: it leaves its
            source's right side, crosses each column it skips level in a lane between that
            column's boxes, and ends on its target's left side.
        bounds: ``(x0, x1, y0, y1)`` around every box and route, margin included.
    """

    box_width: float
    centres: dict[str, tuple[float, float]]
    routes: tuple[tuple[tuple[float, float], ...], ...]
    bounds: tuple[float, float, float, float]

    @property
    def size(self) -> tuple[float, float]:
        x0, x1, y0, y1 = self.bounds
        return x1 - x0, y1 - y0


def _lane(y: float, column_ys: list[float], used: dict[float, int]) -> float:
    """A height near ``y`` where a level line clears every box of a column (at ``column_ys``);
    lanes already taken (``used``) are shifted a little so that arrows stay apart."""
    reach = BOX_HEIGHT / 2 + LANE_CLEARANCE

    def free(v: float) -> bool:
        return all(abs(v - b) >= reach - 1e-9 for b in column_ys)

    if not free(y):
        ys = sorted(column_ys)
        candidates = [ys[0] - reach - LANE_CLEARANCE, ys[-1] + reach + LANE_CLEARANCE]
        candidates += [(a + b) / 2 for a, b in pairwise(ys)]
        y = min((c for c in candidates if free(c)), key=lambda c: abs(c - y))
    key = round(y, 3)
    k = used.get(key, 0)
    used[key] = k + 1
    shifted = y + 0.035 * ((k + 1) // 2) * (-1) ** k
    return shifted if free(shifted) else y


def cell_layout(graph: CellGraph, width: float | None = None) -> CellLayout:
    """Place ``graph`` in inches with boxes ``width`` wide (default :func:`box_width`)."""
    width = box_width([graph]) if width is None else width
    pitch = width + COLUMN_GAP
    centres = {n.id: (n.layer * pitch, -n.row * ROW_PITCH) for n in graph.nodes}
    by_id = {n.id: n for n in graph.nodes}
    column_ys: dict[int, list[float]] = {}
    for n in graph.nodes:
        column_ys.setdefault(n.layer, []).append(centres[n.id][1])
    half = width / 2
    used: dict[int, dict[float, int]] = {}
    paths: list[list[tuple[float, float]]] = []
    for src, dst in graph.edges:
        (xs, ys), (xd, yd) = centres[src], centres[dst]
        points = [(xs + half, ys)]
        y, col = ys, by_id[src].layer
        for c in range(col + 1, by_id[dst].layer):  # level through each skipped column
            want = y + (yd - y) / (by_id[dst].layer - col)
            y, col = _lane(want, column_ys[c], used.setdefault(c, {})), c
            points += [(c * pitch - half, y), (c * pitch + half, y)]
        points.append((xd - half, yd))
        paths.append(points)
    # arrows into one box end spread down its left side, in the order they come from
    incoming: dict[str, list[int]] = {}
    for i, (_, dst) in enumerate(graph.edges):
        incoming.setdefault(dst, []).append(i)
    for edges in incoming.values():
        if len(edges) < 2:
            continue
        edges.sort(key=lambda i: -paths[i][-2][1])
        step = min(0.055, 0.6 * BOX_HEIGHT / (len(edges) - 1))
        for k, i in enumerate(edges):
            x, y = paths[i][-1]
            paths[i][-1] = (x, y + step * ((len(edges) - 1) / 2 - k))
    xs = [x for x, _ in centres.values()]
    ys = [y for _, y in centres.values()] + [y for p in paths for _, y in p]
    bounds = (
        min(xs) - half - CELL_MARGIN,
        max(xs) + half + CELL_MARGIN,
        min(ys) - BOX_HEIGHT / 2 - CELL_MARGIN,
        max(ys) + BOX_HEIGHT / 2 + CELL_MARGIN,
    )
    routes = tuple(tuple(p) for p in paths)
    return CellLayout(width, centres, routes, bounds)


def _route_path(points: tuple[tuple[float, float], ...]):
    """A matplotlib Path through ``points``: level inside a column, S-curves between columns
    (leaving and entering level, so arrowheads meet box sides square)."""
    from matplotlib.path import Path as MplPath

    verts, codes = [points[0]], [MplPath.MOVETO]
    for (x0, y0), (x1, y1) in pairwise(points):
        if abs(y1 - y0) < 1e-9:
            verts.append((x1, y1))
            codes.append(MplPath.LINETO)
            continue
        dx = (x1 - x0) / 2
        verts += [(x0 + dx, y0), (x1 - dx, y1), (x1, y1)]
        codes += [MplPath.CURVE4] * 3
    return MplPath(verts, codes)


def _face(node: CellNode) -> str:
    return NODE_COLOURS[node.op_kind if node.kind == "op" else node.kind]


def _cell_name(graph: CellGraph) -> str:
    return "reduction" if graph.reduction else "normal"


def draw_cell(ax, graph: CellGraph, title: str, *, layout: CellLayout | None = None) -> None:
    """Draw a cell graph on ``ax``: rounded boxes coloured by kind, arrows, no axes.

    Artists carry gids ``<normal|reduction>-<node id>-box`` / ``-label`` / ``-stride`` and
    ``<cell>-edge-<source>-<target>``.

    Args:
        ax: a matplotlib Axes (its limits are set here, one data unit per inch; the axes should
            be :attr:`CellLayout.size` inches for the text to fit its boxes).
        graph: from :func:`cell_graph`.
        title: the axes title.
        layout: from :func:`cell_layout` (default: ``cell_layout(graph)``).
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    layout = cell_layout(graph) if layout is None else layout
    name = _cell_name(graph)
    width, half_h = layout.box_width, BOX_HEIGHT / 2
    for (src, dst), route in zip(graph.edges, layout.routes, strict=True):
        ax.add_patch(
            FancyArrowPatch(
                path=_route_path(route),
                arrowstyle="-|>",
                mutation_scale=7,
                linewidth=0.7,
                color="0.35",
                shrinkA=0,
                shrinkB=0,
                zorder=1,
                gid=f"{name}-edge-{src}-{dst}",
            )
        )
    for node in graph.nodes:
        x, y = layout.centres[node.id]
        ax.add_patch(
            FancyBboxPatch(
                (x - width / 2, y - half_h),
                width,
                BOX_HEIGHT,
                boxstyle="round,pad=0,rounding_size=0.06",
                facecolor=_face(node),
                edgecolor="0.25",
                linewidth=0.8,
                zorder=2,
                gid=f"{name}-{node.id}-box",
            )
        )
        text_w = _content_width(node)
        label_w = text_width(node.label)
        ax.text(
            x - text_w / 2 + label_w / 2,
            y,
            node.label,
            ha="center",
            va="center",
            fontsize=LABEL_FONT_SIZE,
            zorder=3,
            gid=f"{name}-{node.id}-label",
        )
        if node.stride != 1:
            ax.text(
                x + text_w / 2,
                y,
                _stride_mark(node),
                ha="right",
                va="center",
                fontsize=STRIDE_FONT_SIZE,
                color="0.3",
                zorder=3,
                gid=f"{name}-{node.id}-stride",
            )
    x0, x1, y0, y1 = layout.bounds
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_axis_off()
    ax.set_title(title, fontsize=TITLE_FONT_SIZE, pad=4)


def genotype_figure(genotype: Genotype) -> Figure:
    """Both cells, titled ``normal cell`` / ``reduction cell``: the normal cell above the
    reduction cell, or left of it (tops aligned) where the two side by side are no wider than
    ``MAX_SIDE_BY_SIDE_WIDTH`` and waste less space. The figure is as big as the drawings
    (one data unit per inch), all boxes share one width.

    Args:
        genotype: the genotype to draw.

    Returns:
        A bare Figure on an Agg canvas.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    graphs = [
        (cell_graph(genotype.normal, reduction=False), "normal cell"),
        (cell_graph(genotype.reduction, reduction=True), "reduction cell"),
    ]
    width = box_width(g for g, _ in graphs)
    layouts = [cell_layout(g, width) for g, _ in graphs]
    sizes = [(w, h + TITLE_SPACE) for w, h in (lay.size for lay in layouts)]
    stacked = (max(w for w, _ in sizes), sum(h for _, h in sizes) + CELL_GAP)
    side = (sum(w for w, _ in sizes) + CELL_GAP, max(h for _, h in sizes))
    side_by_side = side[0] <= MAX_SIDE_BY_SIDE_WIDTH and side[0] * side[1] < math.prod(stacked)
    fig_w, fig_h = side if side_by_side else stacked
    fig = Figure(figsize=(fig_w, fig_h), dpi=DPI)
    FigureCanvasAgg(fig)
    left, top = 0.0, fig_h
    for (graph, title), layout, (w, h) in zip(graphs, layouts, sizes, strict=True):
        if side_by_side:
            x, y = left, fig_h - h  # tops aligned
            left += w + CELL_GAP
        else:
            x, y = (fig_w - w) / 2, top - h  # centred horizontally
            top -= h + CELL_GAP
        cw, ch = layout.size
        ax = fig.add_axes((x / fig_w, y / fig_h, cw / fig_w, ch / fig_h))
        draw_cell(ax, graph, title, layout=layout)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` atomically, the format from the suffix; SVG text stays text."""
    from matplotlib import rc_context

    fmt = path.suffix.lstrip(".").lower() or "png"

    def write(tmp: Path) -> None:
        with rc_context({"svg.fonttype": "none"}):
            fig.savefig(tmp, format=fmt, dpi=DPI)

    return write_atomic(path, write)


def save_genotype(genotype: Genotype, path_stem: str | Path) -> tuple[Path, Path]:
    """Draw both cells of ``genotype`` (:func:`genotype_figure`) to ``<stem>.png`` and
    ``<stem>.svg``.

    Args:
        genotype: the genotype to draw.
        path_stem: the file path without its suffix (``runs/search/best`` ->
            ``runs/search/best.png``, ``runs/search/best.svg``).

    Returns:
        The PNG and the SVG path.
    """
    stem = Path(path_stem)
    fig = genotype_figure(genotype)
    png = _save(fig, stem.with_name(stem.name + ".png"))
    svg = _save(fig, stem.with_name(stem.name + ".svg"))
    return png, svg


# --- search curve ---------------------------------------------------------------------------


def _score(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _best_so_far(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[int, list]]:
    """strategy -> seed -> [(index, best score so far)], strategies and seeds in first-seen
    order; indices before the first scored candidate have no point."""
    scores: dict[str, dict[int, list[tuple[int, float | None]]]] = {}
    for r in rows:
        seeds = scores.setdefault(str(r["strategy"]), {})
        seeds.setdefault(int(r["seed"]), []).append((int(r["index"]), _score(r["score"])))
    curves: dict[str, dict[int, list]] = {}
    for strategy, seeds in scores.items():
        for seed, points in seeds.items():
            best, curve = None, []
            for index, score in sorted(points, key=lambda p: p[0]):
                if score is not None and (best is None or score > best):
                    best = score
                if best is not None:
                    curve.append((index, best))
            curves.setdefault(strategy, {})[seed] = curve
    return curves


def search_curve(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Best score so far per search, against candidates evaluated.

    Args:
        rows: one per candidate, with ``strategy``, ``seed`` (int), ``index`` (1-based order
            within its search) and ``score`` (validation accuracy; ``None`` or NaN if it failed).

    Returns:
        ``{key: [(index, best so far), ...]}`` in index order, non-decreasing; the key is the
        strategy, or ``"<strategy> seed <S>"`` where the strategy ran with several seeds. A failed
        candidate repeats the best before it; candidates before the first scored one have no
        point (a search with no scored candidate has an empty list).
    """
    out: dict[str, list[tuple[int, float]]] = {}
    for strategy, seeds in _best_so_far(rows).items():
        for seed, curve in seeds.items():
            out[strategy if len(seeds) == 1 else f"{strategy} seed {seed}"] = curve
    return out


def _median_curve(curves: Iterable[list[tuple[int, float]]]) -> list[tuple[int, float]]:
    """Per index, the median best-so-far over the searches that reached that index."""
    at: dict[int, list[float]] = {}
    for curve in curves:
        for index, value in curve:
            at.setdefault(index, []).append(value)
    return [(i, statistics.median(at[i])) for i in sorted(at)]


def save_search_curve(
    path: str | Path, rows: Iterable[Mapping[str, Any]], *, title: str | None = None
) -> Path:
    """Plot best validation accuracy so far against candidates evaluated.

    One colour per strategy; a strategy run with several seeds is drawn as thin lines (one per
    seed) and a bold median line. Scores are read as fractions when none exceeds 1, else as
    percentages; the y axis is labelled in percent either way.

    Args:
        path: the file to write; PNG, or SVG (any format matplotlib knows) by its suffix.
        rows: as for :func:`search_curve`.
        title: the axes title (default ``"search: best validation accuracy so far"``).

    Returns:
        ``path`` as a :class:`Path`.
    """
    from matplotlib.ticker import MaxNLocator

    curves = _best_so_far(rows)
    values = [v for seeds in curves.values() for c in seeds.values() for _, v in c]
    fig, ax, cmap = _strategy_figure(len(curves))
    for i, (strategy, seeds) in enumerate(curves.items()):
        colour = cmap(i % cmap.N)
        if len(seeds) == 1:
            (curve,) = seeds.values()
            ax.step(*_xy(curve), where="post", color=colour, linewidth=2.0, label=strategy)
            continue
        for curve in seeds.values():
            ax.step(*_xy(curve), where="post", color=colour, linewidth=0.8, alpha=0.45)
        label = f"{strategy} (median of {len(seeds)} seeds)"
        median = _median_curve(seeds.values())
        ax.step(*_xy(median), where="post", color=colour, linewidth=2.4, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _label_accuracy_axes(
        ax,
        values,
        "candidates evaluated",
        "best validation accuracy so far",
        title or "search: best validation accuracy so far",
    )
    return _save(fig, Path(path))


def _strategy_figure(strategies: int):
    """A bare figure with one axes for the search pictures, and a colour map of enough colours
    for ``strategies``."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=SEARCH_CURVE_SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(), colormaps["tab10" if strategies <= 10 else "tab20"]


def _label_accuracy_axes(ax, scores: list[float], xlabel: str, ylabel: str, title: str) -> None:
    """Percent on y (scores are fractions when none exceeds 1), labels, title, grid, and the
    legend when anything is labelled."""
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0 if max(scores, default=0) <= 1 else 100))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(loc="lower right", fontsize=8)


def _xy(curve: list[tuple[int, float]]) -> tuple[list[int], list[float]]:
    return [i for i, _ in curve], [v for _, v in curve]


# --- Pareto front ---------------------------------------------------------------------------


def save_pareto_front(
    path: str | Path, rows: Iterable[Mapping[str, Any]], *, title: str | None = None
) -> Path:
    """Plot every candidate's validation accuracy against its MACs, with each strategy's Pareto
    front (:func:`~cnnzoo.nas.pareto.pareto_front`) as a line through its members.

    Args:
        path: the file to write (format by suffix).
        rows: one per candidate, with ``strategy``, ``score`` and ``macs``; the seeds of a
            strategy are pooled into one front.
        title: the axes title (default ``"search: validation accuracy against MACs"``).

    Returns:
        ``path`` as a :class:`Path`.
    """
    from cnnzoo.nas.pareto import pareto_front

    by_strategy: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        if _score(row.get("score")) is not None and row.get("macs") not in (None, ""):
            by_strategy.setdefault(str(row["strategy"]), []).append(row)
    scores = [float(r["score"]) for group in by_strategy.values() for r in group]
    fig, ax, cmap = _strategy_figure(len(by_strategy))
    for i, (strategy, group) in enumerate(by_strategy.items()):
        colour = cmap(i % cmap.N)
        ax.scatter(
            [float(r["macs"]) / 1e6 for r in group],
            [float(r["score"]) for r in group],
            s=12,
            color=colour,
            alpha=0.35,
            linewidths=0,
        )
        front = pareto_front(group)
        ax.step(
            [float(r["macs"]) / 1e6 for r in front],
            [float(r["score"]) for r in front],
            where="post",
            color=colour,
            linewidth=1.8,
            marker="o",
            markersize=4,
            label=f"{strategy}: {len(front)} on the front of {len(group)}",
        )
    _label_accuracy_axes(
        ax,
        scores,
        "MACs of one image (millions)",
        "validation accuracy",
        title or "search: validation accuracy against MACs",
    )
    return _save(fig, Path(path))
