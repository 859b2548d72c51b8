"""Cell pictures (cnnzoo.nas.draw): a genotype's cells as graphs of modules, laid out by dot."""

import random
import shutil
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from cnnzoo.models.genotype import NASNET_A, NUM_INPUTS, OPERATION_NAMES, Block, CellGenotype
from cnnzoo.nas.draw import (
    OPERATION_LABELS,
    arranged_graph,
    cell_graph,
    genotype_graph,
    save_genotype,
    state_id,
)
from cnnzoo.viz.graph import STYLE, GraphvizError, layout

CELLS = [("normal", NASNET_A.normal, False), ("reduction", NASNET_A.reduction, True)]
OP_KINDS = {"conv", "sep", "pool", "identity"}
PIXEL = 1 / STYLE.png_dpi  # inches
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz's dot is missing: run 'apt-get install graphviz' (scripts/setup.sh does)",
)


def _kinds(graph, kinds):
    return [n for n in graph.nodes if n.kind in kinds]


def _genotypes():
    from cnnzoo.nas.space import SearchSpace

    return [NASNET_A, SearchSpace().sample(random.Random(3))]


def test_every_operation_has_a_label():
    assert set(OPERATION_LABELS) == set(OPERATION_NAMES)
    assert {kind for _, kind in OPERATION_LABELS.values()} == OP_KINDS


def test_nasnet_a_normal_cell_counts():
    graph = cell_graph(NASNET_A.normal, reduction=False)
    assert len(_kinds(graph, {"combine"})) == 5
    assert len(_kinds(graph, OP_KINDS)) == 10
    assert [n.label for n in _kinds(graph, {"input"})] == ["h_i", "h_{i-1}"]
    assert len(_kinds(graph, {"output"})) == 1
    assert all(n.sublabel == "" for n in graph.nodes)  # no stride mark in a normal cell
    assert {n.group for n in graph.nodes} <= {g.id for g in graph.groups}
    assert graph.groups[0].label == "normal cell"


@pytest.mark.parametrize(("name", "cell", "reduction"), CELLS)
def test_output_concatenates_the_output_states(name, cell, reduction):
    graph = cell_graph(cell, reduction=reduction)
    sources = graph.sources(f"{name}-out")
    assert sources == [state_id(name, s) for s in cell.output_states]
    if name == "normal":  # TF-slim's NASNet-A normal cell also concatenates h_{i-1}
        assert cell.output_states == (1, 2, 3, 4, 5, 6)
        assert graph.node(sources[0]).label == "h_{i-1}"


@needs_dot
@pytest.mark.parametrize(("name", "cell", "reduction"), CELLS)
def test_edges_go_left_to_right_without_overlaps(name, cell, reduction):
    graph = cell_graph(cell, reduction=reduction)
    ids = [n.id for n in graph.nodes]
    assert len(set(ids)) == len(ids)
    box = layout(graph)
    assert set(box.nodes) == set(ids)
    for e in graph.edges:  # every node right of everything feeding it
        assert box.nodes[e.source].x1 < box.nodes[e.target].x0, (e.source, e.target)
    inputs = [box.nodes[state_id(name, s)] for s in range(NUM_INPUTS)]
    assert {b.x0 for b in inputs} == {min(b.x0 for b in box.nodes.values())}  # first column
    assert inputs[0].y1 < inputs[1].y0  # h_i above h_{i-1}
    boxes = list(box.nodes.values())
    for i, a in enumerate(boxes):  # boxes of one column at least NODE_SEP apart
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)
            if abs(a.centre[0] - b.centre[0]) < 1e-6:
                assert max(a.y0, b.y0) - min(a.y1, b.y1) >= STYLE.node_sep - 1e-3


@needs_dot
def test_block_wiring_and_reduction_strides():
    cell = NASNET_A.reduction
    graph = cell_graph(cell, reduction=True)
    for j, block in enumerate(cell.blocks):
        combine = graph.node(f"reduction-b{j}")
        assert combine.label == block.combine and combine.kind == "combine"
        assert combine.id == state_id("reduction", j + NUM_INPUTS)
        ops = [graph.node(s) for s in graph.sources(combine.id)]
        assert [o.id for o in ops] == [f"reduction-b{j}op0", f"reduction-b{j}op1"]
        assert [o.label for o in ops] == [OPERATION_LABELS[op][0] for op in block.ops]
        assert [o.kind for o in ops] == [OPERATION_LABELS[op][1] for op in block.ops]
        for op, src in zip(ops, block.inputs, strict=True):
            assert graph.sources(op.id) == [state_id("reduction", src)]
            assert op.sublabel == ("/2" if src < NUM_INPUTS else "")
            assert op.group == combine.group == f"reduction-block{j}"
    # block 3 reads two block outputs: its ops sit after their combines
    box = layout(graph)
    assert box.nodes["reduction-b3op0"].x0 > box.nodes["reduction-b1"].x1


@needs_dot
def test_concat_combine_and_paper_rule_output():
    cell = CellGenotype(
        (
            Block((0, 1), ("conv_3x3", "max_pool_5x5"), "concat"),
            Block((2, 0), ("identity", "conv_1x7_7x1")),
        )
    )
    graph = cell_graph(cell, reduction=False)
    assert graph.node("normal-b0").label == "concat"
    assert graph.sources("normal-out") == ["normal-b1"]
    box = layout(graph)
    columns = sorted({round(b.centre[0], 3) for b in box.nodes.values()})
    assert len(columns) == 6  # inputs, op, b0, op, b1, out
    assert round(box.nodes["normal-out"].centre[0], 3) == columns[-1]


@needs_dot
def test_save_genotype_png_and_svg(tmp_path):
    png, svg = save_genotype(NASNET_A, tmp_path / "sub" / "nasnet_a")
    assert png == tmp_path / "sub" / "nasnet_a.png" and svg.suffix == ".svg"
    with Image.open(png) as im:
        im.load()
        assert im.format == "PNG"
        lo, hi = im.convert("L").getextrema()
        assert hi - lo > 100
    root = ET.parse(svg).getroot()
    text = "".join(root.itertext())
    for label in (
        "sep 3x3",
        "sep 5x5",
        "sep 7x7",
        "avg 3x3",
        "max 3x3",
        "identity",
        "normal cell",
        "reduction cell",
        "h_{i-1}",
        "add",
        "concat",
        "/2",
    ):
        assert label in text
    node_ids = {g.get("id") for g in root.iter("{http://www.w3.org/2000/svg}g")}
    assert {n.id for n in genotype_graph(NASNET_A).nodes} <= node_ids
    assert not list(tmp_path.glob("sub/.*.tmp"))


@needs_dot
def test_cells_side_by_side_or_stacked():
    side = layout(arranged_graph(NASNET_A))  # fits: normal cell left of the reduction cell
    assert side.groups["normal"].x1 <= side.groups["reduction"].x0
    wide = _genotypes()[1]  # its cells are long chains: one above the other
    stacked = layout(arranged_graph(wide))
    assert stacked.groups["normal"].y1 <= stacked.groups["reduction"].y0
    assert stacked.width < layout(genotype_graph(wide, side_by_side=True)).width


@needs_dot
@pytest.mark.parametrize("genotype", _genotypes(), ids=["nasnet_a", "random3"])
def test_labels_fit_their_boxes_and_arrows_miss_them(genotype):
    graph = arranged_graph(genotype)
    box = layout(graph)
    assert len({round(b.width, 6) for b in box.nodes.values()}) == 1  # one shared column width
    assert set(box.labels) == set(box.nodes)  # every box labelled
    for node_id, b in box.nodes.items():
        label = box.labels[node_id]
        assert label.x0 - b.x0 >= 0.05 and b.x1 - label.x1 >= 0.05, node_id
        assert label.y0 - b.y0 >= 2 * PIXEL and b.y1 - label.y1 >= 2 * PIXEL, node_id
        for title in box.titles.values():
            assert not b.overlaps(title), node_id
    for name in ("normal", "reduction"):  # each cell's box holds its nodes, the two apart
        cell = box.groups[name]
        for node_id, b in box.nodes.items():
            if node_id.startswith(f"{name}-"):
                assert cell.x0 < b.x0 and b.x1 < cell.x1 and cell.y0 < b.y0 and b.y1 < cell.y1
    assert not box.groups["normal"].overlaps(box.groups["reduction"])
    assert len(box.routes) == sum(not e.hidden for e in graph.edges)
    for route in box.routes:
        points = route.polyline()
        for node_id, b in box.nodes.items():  # no arrow runs through a box
            inner = type(b)(b.x0 + 0.01, b.y0 + 0.01, b.x1 - 0.01, b.y1 - 0.01)
            assert not any(inner.contains(x, y) for x, y in points), (route, node_id)
        for title in box.titles.values():  # nor across a cell's title
            assert not any(title.contains(x, y) for x, y in points), route
        # the arrowhead's tip ends on the target's border, in its left half: arrows come in
        # from the left (dot lets a steep one end on the top or bottom side, by the corner)
        target, (tx, ty) = box.nodes[route.target], route.tip
        assert target.x0 - 0.02 <= tx <= target.centre[0], route
        assert target.y0 - 0.02 <= ty <= target.y1 + 0.02, route
        assert min(abs(tx - target.x0), abs(ty - target.y0), abs(ty - target.y1)) < 0.02, route
    pad = 2 * STYLE.margin
    assert box.width + pad <= 20 and box.height + pad <= 12


def test_save_genotype_without_dot_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(GraphvizError, match="apt-get install graphviz") as info:
        save_genotype(NASNET_A, tmp_path / "best_cell")
    assert "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())


def test_nas_show_without_dot_prints_one_line(tmp_path, monkeypatch, capsys):
    from cnnzoo.cli import main

    genotype = tmp_path / "cell.json"
    genotype.write_text(NASNET_A.to_json())
    monkeypatch.setenv("PATH", "")
    assert main(["nas", "show", str(genotype)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "'dot'" in err and "apt-get install graphviz" in err
