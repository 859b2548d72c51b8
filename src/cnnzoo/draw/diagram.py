"""A network's traced module graph at the level a paper draws it, as data and as a Graphviz graph.

The profiler's meta-device pass (:func:`cnnzoo.analysis.profiler.profile_flow`) gives the rows
(every leaf module call and every functional operation) and which rows fed which. Rows inside a
block of :data:`BLOCKS` (a residual or bottleneck block, an Inception module, a NASNet cell, a
separable convolution, a ShuffleNet unit, ...) are collapsed into one node named by the block's
module path, with :func:`cnnzoo.analysis.report.collapse`'s numbers, so a node's parameters, MACs,
output shape and receptive field are ``cnnzoo summary MODEL --depth K``'s row of that name. A
deeper ``depth`` expands blocks into their inner blocks or layers, grouped in a box titled with
the block's path. A parameter-free activation is drawn in the box of the layer before it, and a
pass-through (``Identity``, ``Dropout``, ``ScheduledDropPath``) in the box of the layer or block
before it (:func:`_folds`), so a NASNet cell reads as Zoph et al.'s Fig. 4.

Shortcuts are found in the data flow, not typed in: an input of an ``add`` (or of a ``cat``) that
crossed fewer weight layers since the block's entry than the main input (none, for a ``cat``) is a
shortcut, drawn dashed. A collapsed block with a shortcut gets a small joint (``+`` or
``concat``) after it, with the shortcut drawn into it from where it leaves the main path, as the
papers draw a residual block.

:func:`diagram` builds the :class:`Diagram` (data: :func:`to_dict`), :func:`to_graph` the graph
that :mod:`cnnzoo.viz.graph` lays out with ``dot``, each fork's branches in module order
(:func:`branch_ranks`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from torch import nn

from cnnzoo.analysis.profiler import INPUT, Flow, profile_flow
from cnnzoo.analysis.report import Report, Row, collapse, format_field, name_depth, si
from cnnzoo.viz.graph import FACES, Edge, Graph, Group, Node, Style

SCHEMA_VERSION = 1
LAYERS = "layers"  # --depth: every layer of every block


class BlockKind(NamedTuple):
    """How a block class is named in the drawing.

    Args:
        label: what the papers call it.
        plain_label: the name when its data flow has no shortcut (a plain network's block).
    """

    label: str
    plain_label: str | None = None


# Container classes (by class name: the drawing imports no model family) collapsed to one node.
BLOCKS: MappingProxyType[str, BlockKind] = MappingProxyType(
    {
        "ResidualUnit": BlockKind("residual block", "plain block"),  # ResNet Figs. 2, 5
        "Inception": BlockKind("Inception module"),  # GoogLeNet Fig. 2(b)
        "MixedBlock": BlockKind("Inception block"),  # Inception-v4 Figs. 3-8
        "InceptionResNetBlock": BlockKind("Inception-ResNet block"),  # Figs. 10-13, 16-19
        "Cell": BlockKind("NASNet cell"),  # Zoph et al. Fig. 4
        "FactorizedReduction": BlockKind("factorized reduction"),
        "StackedSepConv": BlockKind("sep conv, twice"),
        "SeparableConv": BlockKind("separable conv"),
        "ReLUConvBN": BlockKind("ReLU-conv-BN"),
        "DepthwiseSeparableConv": BlockKind("depthwise separable conv"),  # MobileNet Fig. 3
        "ShuffleV1Unit": BlockKind("ShuffleNet unit"),  # ShuffleNet Fig. 2
        "ShuffleV2Unit": BlockKind("ShuffleNet v2 unit"),  # ShuffleNet v2 Fig. 3
        "ConvNormAct": BlockKind("conv-BN-ReLU"),  # one convolution of the papers' figures
        "ConnectionTableConv2d": BlockKind("connection-table conv"),  # LeNet-5 Table I
    }
)

# Face colour of a node, by the kind of its (innermost) module.
KINDS: MappingProxyType[str, str] = MappingProxyType(
    {
        "Conv2d": "conv",
        "Linear": "fc",
        "MaxPool2d": "pool",
        "AvgPool2d": "pool",
        "AdaptiveAvgPool2d": "pool",
        "AdaptiveMaxPool2d": "pool",
        "Subsampling": "pool",
        "BatchNorm2d": "norm",
        "LocalResponseNorm": "norm",
        "ReLU": "act",
        "ReLU6": "act",
        "Tanh": "act",
        "ScaledTanh": "act",
        "Identity": "identity",
        "Dropout": "identity",
        "ScheduledDropPath": "identity",
        "ChannelShuffle": "identity",
        "Flatten": "identity",
        "functional:add": "combine",
        "functional:cat": "combine",
        "functional:mul": "combine",
    }
)
STYLE = Style(
    faces=MappingProxyType(
        {**FACES, "block": "#fdd0a2", "cell": "#c6dbef", "joint": "#a1d99b", "unit": "#fdae6b"}
    )
)
# Parameter-free layers drawn in the box of the layer before them (at a collapsed depth), when
# that layer feeds nothing else: "3x3 conv, 64 → ReLU". The box keeps that layer's numbers.
FOLDED = frozenset({"ReLU", "ReLU6", "Tanh", "ScaledTanh", "Dropout"})
# Parameter-free pass-through layers (identities at inference) drawn in the box of what they
# follow, a layer or a collapsed block, when that feeds nothing else or is a pass-through itself:
# a NASNet cell reads as Fig. 4 of Zoph et al., operations without their ScheduledDropPath.
PASS_THROUGH = frozenset({"Identity", "Dropout", "ScheduledDropPath"})
SILENT = frozenset({"Identity", "ScheduledDropPath"})  # folded in without a word in the box
BLOCK_KINDS = {"Cell": "cell", "ConvNormAct": "conv", "ReLUConvBN": "conv"}
COMBINES = ("functional:add", "functional:cat")
MAX_LISTED = 3  # a block's convolutions listed in its box, at most
# what may follow a block's last add (or concat) for it to be drawn as the block's joint
AFTER_JOINT = frozenset({"ReLU", "ReLU6", "Identity", "ChannelShuffle"})
SUFFIX = re.compile(r"#\d+$")


@dataclass(frozen=True)
class DrawNode:
    """One box: a layer, a collapsed block, the input, or a block's joint.

    Args:
        id: the module path (``layer2.1``), ``input``, ``in:<row>`` (a block's input, drawn
            alone) or ``<block>:join``.
        name: the module path (or row name) it stands for.
        what: what it is, in the papers' words (``3x3 conv, 64 /2``, ``residual block``).
        kind: the face colour's key.
        type: the module's class name (or ``functional:<op>``).
        rows: the profiler rows it collapses, in execution order.
        row: the numbers: :func:`~cnnzoo.analysis.report.collapse` of ``rows`` (``None`` for the
            input and joints).
        group: the block box it is drawn in (an expanded block's path), or ``None``.
        block: whether it is a collapsed block (expandable).
    """

    id: str
    name: str
    what: str
    kind: str
    type: str
    rows: tuple[str, ...] = ()
    row: Row | None = None
    group: str | None = None
    block: bool = False


@dataclass(frozen=True)
class DrawEdge:
    """An arrow; ``kind`` is ``data``, ``shortcut`` or ``concat``; ``label`` names a shortcut's
    path (``identity``, ``projection``, ``pool``)."""

    source: str
    target: str
    kind: str = "data"
    label: str = ""


@dataclass(frozen=True)
class Diagram:
    """One network drawn: its nodes, edges, block boxes and totals.

    Args:
        model: the model's name (or a checkpoint's label).
        report: the profile the numbers come from.
        depth: ``1`` = blocks collapsed; ``k`` = blocks nested ``k - 1`` deep expanded;
            :data:`LAYERS` = every layer.
        block: the one block drawn alone, or ``None`` for the whole network.
        nodes: the boxes, in execution order.
        edges: the arrows.
        groups: ``(path, title, parent path)`` of each expanded block's box.
    """

    model: str
    report: Report
    depth: int | str
    block: str | None
    nodes: tuple[DrawNode, ...]
    edges: tuple[DrawEdge, ...]
    groups: tuple[tuple[str, str, str | None], ...] = field(default=())

    @property
    def caption(self) -> str:
        """The network's totals in one line."""
        t, (c, h, w) = self.report.totals, self.report.input_size
        where = f" ({self.block})" if self.block else ""
        return (
            f"{self.model}{where}: input {c}x{h}x{w}, {t.params:,} parameters, "
            f"{si(t.macs_conv_linear)} MACs, {t.depth} weight layers deep"
        )


# --- the paper's words for a module ------------------------------------------------------------


def _pair(v) -> tuple[int, int]:
    return tuple(v) if isinstance(v, tuple | list) else (v, v)


def _stride(v) -> str:
    s = _pair(v)
    return f" /{s[0]}" if s[0] > 1 else ""


def describe(module: nn.Module | None, type_name: str) -> str:
    """A layer in the papers' words: ``3x3 conv, 64 /2``, ``fc, 1000``, ``3x3 max pool /2``."""
    if type_name.startswith("functional:"):
        op = type_name.split(":")[1]
        return {"add": "+", "cat": "concat", "mul": "x scale"}.get(op, op)
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        kind = "dw conv" if module.groups == module.in_channels > 1 else "conv"
        groups = f", g{module.groups}" if 1 < module.groups < module.in_channels else ""
        return f"{kh}x{kw} {kind}, {module.out_channels}{groups}{_stride(module.stride)}"
    if isinstance(module, nn.Linear):
        return f"fc, {module.out_features}"
    if isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
        k = _pair(module.kernel_size)
        op = "max" if isinstance(module, nn.MaxPool2d) else "avg"
        return f"{k[0]}x{k[1]} {op} pool{_stride(module.stride)}"
    if isinstance(module, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
        return "global avg pool" if isinstance(module, nn.AdaptiveAvgPool2d) else "global max pool"
    if isinstance(module, nn.BatchNorm2d):
        return "BN"
    return type_name


def _module(model: nn.Module, name: str) -> nn.Module | None:
    try:
        return model.get_submodule(SUFFIX.sub("", name))
    except AttributeError:
        return None


# --- the data flow, collapsed ------------------------------------------------------------------


def _block_paths(row: str, types: dict[str, str]) -> list[str]:
    """The module paths of the blocks that hold ``row``, outermost first."""
    parts = row.split(".")
    paths = [".".join(parts[:i]) for i in range(1, len(parts))]
    return [p for p in paths if types.get(p) in BLOCKS]


def max_depth(report: Report, within: str | None = None) -> int:
    """The deepest ``--depth`` that still collapses a block: one more than the most blocks
    nested around a row (inside ``within``, when drawing one block)."""
    nesting = 0
    for row in report.rows:
        if within is None or row.name.startswith(within + "."):
            blocks = _block_paths(row.name, report.module_types)
            if within is not None:
                blocks = [b for b in blocks if name_depth(b) > name_depth(within)]
            nesting = max(nesting, len(blocks))
    return nesting + 1


def _predecessors(flow: Flow) -> dict[str, list[str]]:
    preds: dict[str, list[str]] = {}
    for a, b in flow.edges:
        preds.setdefault(b, []).append(a)
    return preds


def _conv_depths(
    rows: Sequence[Row], preds: dict[str, list[str]], inside: set[str]
) -> dict[str, int]:
    """Weight layers on the longest path from where the data entered ``inside`` to each row."""
    depth: dict[str, int] = {}
    for row in rows:
        if row.name in inside:
            before = [depth.get(p, 0) for p in preds.get(row.name, []) if p in inside]
            depth[row.name] = max(before, default=0) + (row.macs_conv_linear > 0)
    return depth


def shortcut_inputs(
    report: Report, flow: Flow, preds: dict[str, list[str]] | None = None
) -> dict[tuple[str, str], str]:
    """The shortcut edges of the flow: ``(producer, combine row) -> "identity" | "projection"
    | "pool"``.

    An input of an ``add`` is a shortcut when it crossed fewer weight layers since the entry of
    the innermost block holding the ``add`` than its deepest input did; an input of a ``cat``,
    when it crossed none while another did.
    """
    preds = preds if preds is not None else _predecessors(flow)
    consumers = _consumers(flow)
    by_block: dict[str, list[Row]] = {}
    within: dict[str, list[Row]] = {"": list(report.rows)}
    for row in report.rows:
        blocks = _block_paths(row.name, report.module_types)
        by_block.setdefault(blocks[-1] if blocks else "", []).append(row)
        for b in blocks:
            within.setdefault(b, []).append(row)
    found: dict[tuple[str, str], str] = {}
    for block, rows in by_block.items():
        if not any(r.type in COMBINES for r in rows):
            continue
        members = within[block]
        inside = {r.name for r in members}
        depth = _conv_depths(members, preds, inside)
        types = {r.name: r.type for r in members}
        for row in rows:
            if row.type not in COMBINES or len(preds.get(row.name, [])) < 2:
                continue
            sources = preds[row.name]
            d = {p: depth.get(p, 0) if p in inside else 0 for p in sources}
            deepest = max(d.values())
            for p in sources:
                short = d[p] < deepest and (row.type == "functional:add" or d[p] == 0)
                if short:
                    found[(p, row.name)] = _path_kind(p, inside, preds, consumers, types)
    return found


def shortcut_path(
    source: str, inside: set[str], preds: dict[str, list[str]], consumers: dict[str, int]
) -> list[str]:
    """The rows of a shortcut that ends with ``source``: back from it inside the block until
    the row where it leaves the main path (one that feeds more than one row)."""
    path, todo = [], [source]
    while todo:
        r = todo.pop()
        if r in path or r not in inside or consumers.get(r, 0) > 1:
            continue
        path.append(r)
        todo += preds.get(r, [])
    return path


def _path_kind(source, inside, preds, consumers, types) -> str:
    """``identity`` (no layer on the shortcut), ``projection`` (a convolution) or ``pool``."""
    kinds = {
        KINDS.get(types.get(r, ""), "") for r in shortcut_path(source, inside, preds, consumers)
    }
    return "projection" if "conv" in kinds else "pool" if "pool" in kinds else "identity"


def _consumers(flow: Flow) -> dict[str, int]:
    counts: dict[str, int] = {}
    for a, _ in flow.edges:
        counts[a] = counts.get(a, 0) + 1
    return counts


def _entries(row: str, inside: set[str], preds: dict[str, list[str]]) -> list[str]:
    """The producers outside ``inside`` whose data reaches ``row`` (``row`` itself if outside)."""
    if row not in inside:
        return [row]
    seen, todo, out = set(), [row], []
    while todo:
        r = todo.pop()
        if r in seen:
            continue
        seen.add(r)
        for p in preds.get(r, []):
            if p in inside:
                todo.append(p)
            elif p not in out:
                out.append(p)
    return out


def parse_depth(text: str) -> int | str:
    """``--depth``: a positive integer or ``layers``.

    Raises:
        ValueError: anything else.
    """
    if text == LAYERS:
        return LAYERS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"--depth must be a positive integer or '{LAYERS}', got {text!r}")
    return value


def diagram(
    model: nn.Module,
    input_size: tuple[int, int, int],
    *,
    label: str | None = None,
    depth: int | str = 1,
    block: str | None = None,
    traced: tuple[Report, Flow] | None = None,
    shortcuts: dict[tuple[str, str], str] | None = None,
) -> Diagram:
    """The traced module graph of ``model``, collapsed to ``depth``.

    Args:
        model: the network (any device: it is traced on a meta copy).
        input_size: ``(C, H, W)`` of one image.
        label: the name to show (default: the model's ``model_name``).
        depth: ``1`` = every block of :data:`BLOCKS` one node; ``k`` = blocks nested up to
            ``k - 1`` deep expanded into boxes; :data:`LAYERS` = every layer.
        block: draw only this module (a path such as ``inception3a``); ``depth`` then counts
            from inside it.
        traced: ``profile_flow(model, input_size)``, when the caller has it already.
        shortcuts: :func:`shortcut_inputs` of ``traced``, likewise.

    Returns:
        The :class:`Diagram`.

    Raises:
        ValueError: ``block`` names no module of the network (the closest names are listed),
            or ``depth`` is deeper than the network's blocks nest.
    """
    label = label or getattr(model, "model_name", "") or type(model).__name__
    report, flow = traced or profile_flow(model, input_size)
    rows = _drawn_rows(model, report, block, label)
    _check_depth(report, block, depth, label)
    preds = _predecessors(flow)
    if shortcuts is None:
        shortcuts = shortcut_inputs(report, flow, preds)
    types = report.module_types
    levels = _levels(rows, types, block)
    limit = 10**9 if depth == LAYERS else depth
    consumers = _consumers(flow)
    owner = _owners(rows, levels, limit, depth != LAYERS, preds, consumers)
    members = _members(rows, owner)
    look = _Lookup(model, types, shortcuts, preds, consumers)
    nodes, joint_edges = [], []
    for node, rs in members.items():
        drawn = _node(look, node, rs, _group(levels[rs[0].name], limit, node, rs, block))
        nodes.append(drawn)
        joint = _joint(drawn, _own_rows(node, rs), shortcuts, preds) if drawn.block else None
        if joint is not None:
            nodes.append(joint[0])
            joint_edges += joint[1]
    joints = {n.name: n.id for n in nodes if n.kind == "joint"}
    edges = _edges(report, flow, owner, joints, shortcuts, joint_edges, members, block)
    outside = _outside_rows(flow, owner, joint_edges, members, block)
    inputs = [_outside_node(report, row) for row in reversed(outside)]
    if block is None:
        c, h, w = report.input_size
        inputs.append(DrawNode("input", "input", f"input {c}x{h}x{w}", "input", "input"))
    groups = _groups(members, levels, limit, block, types)
    return Diagram(label, report, depth, block, (*inputs, *nodes), edges, groups)


@dataclass(frozen=True)
class _Lookup:
    """What every node's description reads: the model, its container types and the flow."""

    model: nn.Module
    types: dict[str, str]
    shortcuts: dict[tuple[str, str], str]
    preds: dict[str, list[str]]
    consumers: dict[str, int]


def _drawn_rows(model: nn.Module, report: Report, block: str | None, label: str) -> tuple[Row, ...]:
    """The rows drawn: all, or those of ``block``.

    Raises:
        ValueError: ``block`` names no module (the closest names are listed).
    """
    if block is None:
        return report.rows
    rows = tuple(r for r in report.rows if r.name == block or r.name.startswith(block + "."))
    if not rows:
        known = [n for n, _ in model.named_modules() if n]
        close = difflib.get_close_matches(block, known, n=3)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise ValueError(f"--block: {label} has no module {block!r}{hint}")
    return rows


def _check_depth(report: Report, block: str | None, depth: int | str, label: str) -> None:
    """Raises ValueError when ``depth`` is deeper than the blocks (of ``block``) nest."""
    deepest = max_depth(report, block)
    if depth != LAYERS and depth > deepest:
        where = f"{block} in {label}" if block else label
        nested = "no blocks" if deepest == 1 else f"blocks nested {deepest - 1} deep"
        raise ValueError(
            f"--depth {depth}: {where} has {nested}; use --depth {deepest} at most, or "
            f"--depth {LAYERS}"
        )


def _levels(rows: Sequence[Row], types: dict[str, str], block: str | None) -> dict[str, list[str]]:
    """Each row's enclosing blocks (inside ``block``), outermost first."""
    levels = {}
    for row in rows:
        paths = _block_paths(row.name, types)
        if block is not None:
            paths = [p for p in paths if name_depth(p) > name_depth(block)]
        levels[row.name] = paths
    return levels


def _natural_node(row: str, paths: list[str], limit: int) -> str:
    """The node a row belongs to before folding: its block at nesting ``limit``, or itself."""
    return paths[limit - 1] if len(paths) >= limit else row


def _owners(
    rows: Sequence[Row],
    levels: dict[str, list[str]],
    limit: int,
    fold: bool,
    preds: dict[str, list[str]],
    consumers: dict[str, int],
) -> dict[str, str]:
    """Each row's node id: its block at the drawn depth, itself, or (``fold``) the node of what
    it follows (:func:`_folds`)."""
    owner: dict[str, str] = {}
    last: dict[str, str] = {}  # each node's last row so far: its output
    box: dict[str, str | None] = {}  # each node's innermost expanded block
    types = {r.name: r.type for r in rows}
    for row in rows:
        node = _natural_node(row.name, levels[row.name], limit)
        before = preds.get(row.name, [])
        head = owner.get(before[0]) if len(before) == 1 and node == row.name else None
        if fold and head is not None:
            own_box = _innermost(_boxes(levels[row.name], limit, False))
            if box[head] == own_box and _folds(
                row.type, before[0], types, head in levels, last[head], consumers
            ):
                node = head  # drawn in its producer's box, as the papers draw "conv, ReLU"
        if node not in box:
            box[node] = _innermost(_boxes(levels[row.name], limit, node != row.name))
        owner[row.name] = node
        last[node] = row.name
    return owner


def _folds(
    kind: str,
    producer: str,
    types: dict[str, str],
    layer: bool,
    output: str,
    consumers: dict[str, int],
) -> bool:
    """Whether a row of type ``kind`` whose one input is ``producer`` is drawn in the box of
    ``producer``'s node (a ``layer``, or a block; ``output`` its last row so far): an
    activation of :data:`FOLDED` after a layer that feeds nothing else; a pass-through of
    :data:`PASS_THROUGH` after the output of any node that feeds nothing else or is a
    pass-through itself."""
    alone = consumers.get(producer) == 1
    if kind in FOLDED and layer and alone:
        return True
    return (
        kind in PASS_THROUGH
        and producer == output
        and (alone or types.get(producer) in PASS_THROUGH)
    )


def _innermost(boxes: list[str]) -> str | None:
    return boxes[-1] if boxes else None


def _members(rows: Sequence[Row], owner: dict[str, str]) -> dict[str, list[Row]]:
    """Each node's rows, in execution order; nodes in the order of their first row."""
    members: dict[str, list[Row]] = {}
    for row in rows:
        members.setdefault(owner[row.name], []).append(row)
    return members


def _is_block(node: str, rs: Sequence[Row]) -> bool:
    """A collapsed block's node is named by its path; a layer's (with what folds into it) by
    its first row."""
    return node != rs[0].name


def _boxes(paths: list[str], limit: int, is_block: bool) -> list[str]:
    """The expanded blocks' boxes a node is drawn in, outermost first."""
    return paths[: limit - 1] if is_block else paths


def _group(paths: list[str], limit: int, node: str, rs: Sequence[Row], block: str | None):
    """The innermost box a node is drawn in (``block`` when it is in none)."""
    boxes = _boxes(paths, limit, _is_block(node, rs))
    return boxes[-1] if boxes else block


def _groups(
    members: dict[str, list[Row]],
    levels: dict[str, list[str]],
    limit: int,
    block: str | None,
    types: dict[str, str],
) -> tuple[tuple[str, str, str | None], ...]:
    """``(path, title, parent path)`` of every expanded block's box (``block``'s first)."""
    groups: dict[str, tuple[str, str, str | None]] = {}
    if block is not None:
        first = next(iter(members.values()))[0]
        title = _block_label(types.get(block, first.type), True)
        groups[block] = (block, f"{block}: {title}", None)
    for node, rs in members.items():
        boxes = _boxes(levels[rs[0].name], limit, _is_block(node, rs))
        for i, box in enumerate(boxes):
            if box not in groups:
                up = boxes[i - 1] if i else block
                groups[box] = (box, f"{box}: {_block_label(types.get(box, ''), True)}", up)
    return tuple(groups.values())


def _node(look: _Lookup, node: str, rs: Sequence[Row], group: str | None) -> DrawNode:
    """The box of ``node``, whose rows are ``rs``; a block's numbers and words are those of its
    own rows (not of the pass-throughs folded into it)."""
    names = tuple(r.name for r in rs)
    if not _is_block(node, rs):
        said = [r for r in rs[1:] if r.type not in SILENT]
        what = " → ".join(describe(_module(look.model, r.name), r.type) for r in (rs[0], *said))
        kind = KINDS.get(rs[0].type, "")
        return DrawNode(node, node, what, kind, rs[0].type, names, rs[0], group)
    own = _own_rows(node, rs)
    kind_name = look.types.get(node, own[0].type)
    row = collapse(own, name_depth(node), look.types)[0]
    what = _block_what(look, kind_name, own)
    kind = BLOCK_KINDS.get(kind_name, "block")
    return DrawNode(node, node, what, kind, kind_name, names, row, group, True)


def _own_rows(node: str, rs: Sequence[Row]) -> list[Row]:
    """A block node's rows inside its module (those folded into it after it are not)."""
    return [r for r in rs if r.name.startswith(node + ".")]


def _block_what(look: _Lookup, kind_name: str, rs: Sequence[Row]) -> str:
    """A collapsed block in the papers' words: a conv-BN-ReLU as its convolution, another
    block by its name and the convolutions on its main path."""
    inside = {r.name for r in rs}
    if kind_name in ("ConvNormAct", "ReLUConvBN"):
        conv = next((r for r in rs if r.type == "Conv2d"), None)
        if conv is not None:
            return describe(_module(look.model, conv.name), "Conv2d")
    has_short = any(b in inside for (_, b) in look.shortcuts)
    what = _block_label(kind_name, has_short)
    if kind_name in ("ConvNormAct", "ReLUConvBN"):
        return what
    return what + _main_convs(look.model, rs, inside, look.shortcuts, look.preds, look.consumers)


def _joint(
    node: DrawNode,
    rs: Sequence[Row],
    shortcuts: dict[tuple[str, str], str],
    preds: dict[str, list[str]],
) -> tuple[DrawNode, list[DrawEdge]] | None:
    """The ``+`` (or ``concat``) joint after a collapsed block that ends in its shortcut, with
    the edge into it and its shortcuts (sources as rows, from where they leave the main path);
    ``None`` for a block that does not."""
    combines = [
        i for i, r in enumerate(rs) if any((p, r.name) in shortcuts for p in preds.get(r.name, []))
    ]
    if not combines or not all(r.type in AFTER_JOINT for r in rs[combines[-1] + 1 :]):
        return None
    joint = rs[combines[-1]]
    jid = f"{node.id}:join"
    drawn = DrawNode(
        jid, node.id, describe(None, joint.type), "joint", joint.type, group=node.group
    )
    edges = [DrawEdge(node.id, jid)]
    inside = {r.name for r in rs}
    for p in preds.get(joint.name, []):
        if (p, joint.name) in shortcuts:
            for entry in _entries(p, inside, preds):
                edges.append(DrawEdge(entry, jid, "shortcut", shortcuts[(p, joint.name)]))
    return drawn, edges


def _out_id(row: str, owner: dict[str, str], joints: dict[str, str], block: str | None) -> str:
    """The node an edge from ``row`` leaves: its node (or that node's joint), the network's
    input, or ``in:<row>`` for a row outside the drawn block."""
    if row == INPUT and block is None:
        return "input"
    if row not in owner:
        return f"in:{row or 'input'}"
    return joints.get(owner[row], owner[row])


def _joint_source(src: str, members: dict[str, list[Row]], owner, joints, block) -> str:
    """A joint edge's source: a node id as it is, a row as :func:`_out_id`."""
    return src if src.endswith(":join") or src in members else _out_id(src, owner, joints, block)


def _edges(
    report: Report,
    flow: Flow,
    owner: dict[str, str],
    joints: dict[str, str],
    shortcuts: dict[tuple[str, str], str],
    joint_edges: Sequence[DrawEdge],
    members: dict[str, list[Row]],
    block: str | None,
) -> tuple[DrawEdge, ...]:
    """The arrows: the joints' edges, then each flow edge between two nodes once (a shortcut
    into a block with a joint is drawn into the joint instead); no edge from a node to itself."""
    resolved: dict[tuple[str, str], DrawEdge] = {}
    for e in joint_edges:
        s = _joint_source(e.source, members, owner, joints, block)
        resolved[(s, e.target)] = DrawEdge(s, e.target, e.kind, e.label)
    types = {r.name: r.type for r in report.rows}
    for a, b in flow.edges:
        if b not in owner:
            continue
        na, nb = _out_id(a, owner, joints, block), owner[b]
        if a in owner and owner[a] == nb:
            continue
        if nb in joints and (a, b) in shortcuts:
            continue
        kind = (
            "shortcut"
            if (a, b) in shortcuts
            else "concat"
            if types.get(b, "") == "functional:cat" and nb == b
            else "data"
        )
        resolved.setdefault((na, nb), DrawEdge(na, nb, kind, shortcuts.get((a, b), "")))
    return tuple(e for (s, d), e in resolved.items() if s != d)


def _outside_rows(
    flow: Flow,
    owner: dict[str, str],
    joint_edges: Sequence[DrawEdge],
    members: dict[str, list[Row]],
    block: str | None,
) -> list[str]:
    """The rows outside the drawn block that feed it, in the order :func:`_edges` meets them."""
    sources = [
        e.source for e in joint_edges if not (e.source.endswith(":join") or e.source in members)
    ]
    sources += [a for a, b in flow.edges if b in owner]
    outside: list[str] = []
    for row in sources:
        if row not in owner and not (row == INPUT and block is None) and row not in outside:
            outside.append(row)
    return outside


def _outside_node(report: Report, row: str) -> DrawNode:
    """The box of a row outside the drawn block that feeds it: its name and output shape."""
    src = next((r for r in report.rows if r.name == row), None)
    shape = "x".join(map(str, src.output_shape[1:] if src else report.input_size))
    what = f"from {row}\n{shape}" if row else f"input\n{shape}"
    return DrawNode(f"in:{row or 'input'}", row or "input", what, "input", "input")


def _main_convs(model, rows, inside, shortcuts, preds, consumers) -> str:
    """A block's convolutions off its shortcuts as Table 1 of ResNet lists them
    (``: 1x1, 64 | 3x3, 64 | 1x1, 256``), when there are at most :data:`MAX_LISTED`."""
    aside = {
        r for (p, b) in shortcuts if b in inside for r in shortcut_path(p, inside, preds, consumers)
    }
    convs = []
    for row in rows:
        module = _module(model, row.name)
        if row.name not in aside and isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            convs.append(f"{kh}x{kw}, {module.out_channels}")
    return f"\n{' | '.join(convs)}" if 0 < len(convs) <= MAX_LISTED else ""


def _block_label(type_name: str, has_shortcut: bool) -> str:
    kind = BLOCKS.get(type_name)
    if kind is None:
        return type_name
    return kind.label if has_shortcut or kind.plain_label is None else kind.plain_label


# --- as a graph, and as data ---------------------------------------------------------------------


def node_label(node: DrawNode) -> str:
    """The text in a node's box: its path, what it is, then its numbers."""
    if node.row is None:
        return node.what
    r = node.row
    shape = "x".join(map(str, r.output_shape[1:])) or "-"
    rf = format_field(r.receptive_field)[0]
    numbers = f"{shape} | {si(r.params)} params | {si(r.macs_conv_linear)} MACs | RF {rf}"
    return f"{node.name}\n{node.what}\n{numbers}"


def graph_parts(d: Diagram, prefix: str = "", parent: str | None = None):
    """The :class:`~cnnzoo.viz.graph` nodes, edges and groups of ``d``; ids get ``prefix``."""
    nodes = [
        Node(prefix + n.id, node_label(n), n.kind, group=prefix + n.group if n.group else parent)
        for n in d.nodes
    ]
    edges = [
        Edge(
            prefix + e.source,
            prefix + e.target,
            "" if e.label == "identity" else e.label,
            dashed=e.kind == "shortcut",
        )
        for e in d.edges
    ]
    groups = [
        Group(prefix + path, title, prefix + up if up else parent) for path, title, up in d.groups
    ]
    return nodes, edges, groups


def branch_ranks(d: Diagram, prefix: str = "") -> list[tuple[str, ...]]:
    """The first nodes of each fork's branches, in module order, as a row of the layout
    (``dot`` would order them to shorten its edges): an Inception module reads 1x1, 3x3, 5x5,
    pool, as GoogLeNet's Fig. 2(b). A branch's first node counts when the fork is its only input;
    a row holds the branches in one box (``dot`` ranks no row across boxes); ids get
    ``prefix``."""
    inputs: dict[str, list[str]] = {}
    for e in d.edges:
        inputs.setdefault(e.target, []).append(e.source)
    group = {n.id: n.group for n in d.nodes}
    order = {n.id: i for i, n in enumerate(d.nodes)}
    branches: dict[tuple[str, str | None], list[str]] = {}
    for target, sources in inputs.items():
        if len(sources) == 1:
            branches.setdefault((sources[0], group[target]), []).append(target)
    return [
        tuple(prefix + t for t in sorted(targets, key=order.__getitem__))
        for targets in branches.values()
        if len(targets) > 1
    ]


def to_graph(diagrams: Sequence[Diagram], direction: str = "TB") -> Graph:
    """One diagram as a graph captioned with its totals, or several side by side, each in a box
    titled with its caption; each fork's branches in module order (:func:`branch_ranks`)."""
    if len(diagrams) == 1:
        nodes, edges, groups = graph_parts(diagrams[0])
        ranks = branch_ranks(diagrams[0])
        return Graph(nodes, edges, groups, direction, diagrams[0].caption, ranks)
    nodes, edges, groups, ranks = [], [], [], []
    for i, d in enumerate(diagrams):
        top = f"m{i}"
        n, e, g = graph_parts(d, f"{top}/", top)
        groups.append(Group(top, d.caption))
        nodes += n
        edges += e
        groups += g
        ranks += branch_ranks(d, f"{top}/")
    return Graph(nodes, edges, groups, direction=direction, ranks=ranks)


def node_dict(n: DrawNode) -> dict:
    """One node as data: its name, what it is, its rows and (a layer's or block's) numbers."""
    r = n.row
    numbers = (
        {}
        if r is None
        else {
            "shape": list(r.output_shape),
            "params": r.params,
            "macs": r.macs_conv_linear,
            "macs_other": r.macs_other,
            "receptive_field": format_field(r.receptive_field)[0],
        }
    )
    return {
        "id": n.id,
        "name": n.name,
        "what": n.what,
        "type": n.type,
        "kind": n.kind,
        "block": n.block,
        "group": n.group,
        "rows": list(n.rows),
        **numbers,
    }


def diagram_dict(d: Diagram) -> dict:
    """One model's drawing as data: its caption, totals, nodes, edges and boxes."""
    return {
        "model": d.model,
        "caption": d.caption,
        "input": list(d.report.input_size),
        "depth": d.depth,
        "block": d.block,
        "params": d.report.totals.params,
        "macs": d.report.totals.macs_conv_linear,
        "nodes": [node_dict(n) for n in d.nodes],
        "edges": [
            {"source": e.source, "target": e.target, "kind": e.kind, "label": e.label}
            for e in d.edges
        ],
        "groups": [{"id": p, "title": t, "parent": u} for p, t, u in d.groups],
    }


def to_dict(diagrams: Sequence[Diagram]) -> dict:
    """The drawing as data (``cnnzoo draw --out X.json``): per model :func:`diagram_dict`."""
    return {
        "schema": "cnnzoo-draw",
        "version": SCHEMA_VERSION,
        "models": [diagram_dict(d) for d in diagrams],
    }
