"""A genotype's two cells drawn like Fig. 4 of Zoph et al. 2018 (https://arxiv.org/abs/1707.07012).

This module only turns cells into graphs of modules (:func:`cell_graph`, :func:`genotype_graph`);
Graphviz's ``dot`` lays them out and draws them through the one drawing layer,
:mod:`cnnzoo.viz.graph`. The search's curves are drawn by :mod:`cnnzoo.nas.plots`.

A cell reads left to right: its inputs ``h_i`` (hidden state 0, the previous cell's output) and
``h_{i-1}`` (hidden state 1) in the first column, per block two operations and the combine
(``add`` / ``concat``) that is hidden state ``j + 2``, kept together as in Fig. 4, and the cell's
output ``concat``. In a reduction cell an operation on an input state strides by 2
(``models/nasnet.py``); its box says so with a ``/2`` mark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cnnzoo.models.genotype import NUM_INPUTS, Block, CellGenotype, Genotype
from cnnzoo.viz.graph import Edge, Graph, Group, Node, layout, save_graph

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
REDUCTION_STRIDE = 2  # models/nasnet.py: a reduction cell's operations on its inputs stride by 2
# inches; a genotype whose two cells side by side would be wider is drawn one above the other
MAX_SIDE_BY_SIDE_WIDTH = 13.0


def cell_name(reduction: bool) -> str:
    """``"reduction"`` or ``"normal"``: the cell's group id and the prefix of its node ids."""
    return "reduction" if reduction else "normal"


def state_id(name: str, state: int) -> str:
    """The id of the node that is hidden state ``state`` of cell ``name``: an input
    (``<name>-in0``, ``<name>-in1``) or a block's combine (``<name>-b{j}``)."""
    return f"{name}-in{state}" if state < NUM_INPUTS else f"{name}-b{state - NUM_INPUTS}"


def input_ids(name: str) -> tuple[str, ...]:
    """The ids of cell ``name``'s inputs ``h_i``, ``h_{i-1}``, in that order."""
    return tuple(state_id(name, s) for s in range(NUM_INPUTS))


@dataclass
class _Parts:
    """A cell's share of a graph: its nodes, edges and groups, in drawing order."""

    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)


def _add_block(parts: _Parts, name: str, j: int, block: Block, reduction: bool) -> None:
    """Block ``j``'s two operations (``b{j}op{k}``) and its combine (``b{j}``), kept together by
    an unframed group (``<name>-block{j}``), and their edges."""
    group, combine = f"{name}-block{j}", state_id(name, j + NUM_INPUTS)
    parts.groups.append(Group(group, parent=name, framed=False))
    for k, (src, op) in enumerate(zip(block.inputs, block.ops, strict=True)):
        label, kind = OPERATION_LABELS[op]
        stride = REDUCTION_STRIDE if reduction and src < NUM_INPUTS else 1
        op_id = f"{name}-b{j}op{k}"
        parts.nodes.append(Node(op_id, label, kind, f"/{stride}" if stride != 1 else "", group))
        parts.edges += [Edge(state_id(name, src), op_id), Edge(op_id, combine)]
    parts.nodes.append(Node(combine, block.combine, "combine", group=group))


def _cell_parts(cell: CellGenotype, reduction: bool) -> _Parts:
    """A cell's nodes (inputs, blocks, output), edges and groups (the cell, then its blocks)."""
    name = cell_name(reduction)
    parts = _Parts(groups=[Group(name, f"{name} cell")])
    parts.nodes += [
        Node(node_id, label, "input", group=name)
        for node_id, label in zip(input_ids(name), INPUT_LABELS, strict=True)
    ]
    for j, block in enumerate(cell.blocks):
        _add_block(parts, name, j, block, reduction)
    out = f"{name}-out"
    parts.nodes.append(Node(out, "concat", "output", group=name))
    parts.edges += [Edge(state_id(name, s), out) for s in cell.output_states]
    return parts


def cell_graph(cell: CellGenotype, *, reduction: bool) -> Graph:
    """One cell as a graph of modules, Fig. 4's way.

    Node ids are ``<normal|reduction>-`` followed by ``in0`` / ``in1`` (the inputs ``h_i``,
    ``h_{i-1}``; kind ``input``), ``b{j}op{k}`` (block ``j``'s operation ``k``; kind ``conv``,
    ``sep``, ``pool`` or ``identity``; sub-label ``/2`` where it strides), ``b{j}`` (block
    ``j``'s combine, hidden state ``j + 2``; kind ``combine``) and ``out`` (the output
    ``concat``; kind ``output``). All sit in one group, the cell, titled ``normal cell`` or
    ``reduction cell``; each block's three also sit in an unframed group ``<cell>-block{j}``.
    The inputs share the first column, ``h_i`` on top.

    Args:
        cell: the cell's genotype.
        reduction: whether it is a reduction cell (operations on its input states stride by 2).

    Returns:
        A left-to-right :class:`~cnnzoo.viz.graph.Graph`.
    """
    parts = _cell_parts(cell, reduction)
    return Graph(parts.nodes, parts.edges, parts.groups, ranks=(input_ids(cell_name(reduction)),))


def genotype_graph(genotype: Genotype, *, side_by_side: bool = True) -> Graph:
    """Both cells of ``genotype`` in one graph: the normal cell, then the reduction cell.

    Args:
        genotype: the genotype to draw.
        side_by_side: place the reduction cell right of the normal one (hidden edges from the
            normal cell's output to the reduction cell's inputs); otherwise one above the other,
            the normal cell on top and the four inputs in the first column.

    Returns:
        A left-to-right :class:`~cnnzoo.viz.graph.Graph` with the nodes of :func:`cell_graph`
        for each cell.
    """
    normal, reduction = _cell_parts(genotype.normal, False), _cell_parts(genotype.reduction, True)
    inputs = (input_ids(cell_name(False)), input_ids(cell_name(True)))
    edges = normal.edges + reduction.edges
    if side_by_side:
        edges += [Edge(f"{cell_name(False)}-out", i, hidden=True) for i in inputs[1]]
    return Graph(
        normal.nodes + reduction.nodes,
        edges,
        normal.groups + reduction.groups,
        ranks=inputs if side_by_side else (inputs[0] + inputs[1],),
    )


def arranged_graph(genotype: Genotype) -> Graph:
    """:func:`genotype_graph` side by side where that is no wider than
    ``MAX_SIDE_BY_SIDE_WIDTH``, else one above the other."""
    side = genotype_graph(genotype, side_by_side=True)
    if layout(side).width <= MAX_SIDE_BY_SIDE_WIDTH:
        return side
    return genotype_graph(genotype, side_by_side=False)


def save_genotype(genotype: Genotype, path_stem: str | Path) -> tuple[Path, Path]:
    """Draw both cells of ``genotype`` (:func:`arranged_graph`) to ``<stem>.png`` and
    ``<stem>.svg``.

    Args:
        genotype: the genotype to draw.
        path_stem: the file path without its suffix (``runs/search/best`` ->
            ``runs/search/best.png``, ``runs/search/best.svg``).

    Returns:
        The PNG and the SVG path.

    Raises:
        GraphvizError: Graphviz's ``dot`` is missing or fails (a ``ValueError``).
    """
    png, svg = save_graph(arranged_graph(genotype), path_stem, formats=("png", "svg"))
    return png, svg
