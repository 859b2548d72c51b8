"""Cell pictures and search curves (cnnzoo.nas.draw)."""

import math
import xml.etree.ElementTree as ET
from itertools import pairwise

import pytest
from PIL import Image

from cnnzoo.models.genotype import NASNET_A, NUM_INPUTS, OPERATION_NAMES, Block, CellGenotype
from cnnzoo.nas.draw import (
    OPERATION_LABELS,
    cell_graph,
    save_genotype,
    save_search_curve,
    search_curve,
)

CELLS = [("normal", NASNET_A.normal, False), ("reduction", NASNET_A.reduction, True)]


def _kinds(graph, kind):
    return [n for n in graph.nodes if n.kind == kind]


def test_every_operation_has_a_label():
    assert set(OPERATION_LABELS) == set(OPERATION_NAMES)
    assert {kind for _, kind in OPERATION_LABELS.values()} == {"conv", "sep", "pool", "identity"}


def test_nasnet_a_normal_cell_counts():
    graph = cell_graph(NASNET_A.normal, reduction=False)
    assert len(_kinds(graph, "combine")) == 5
    assert len(_kinds(graph, "op")) == 10
    assert [n.label for n in _kinds(graph, "input")] == ["h_i", "h_{i-1}"]
    assert len(_kinds(graph, "output")) == 1
    assert all(n.stride == 1 for n in graph.nodes)


@pytest.mark.parametrize(("name", "cell", "reduction"), CELLS)
def test_output_concatenates_the_output_states(name, cell, reduction):
    graph = cell_graph(cell, reduction=reduction)
    by_id = {n.id: n for n in graph.nodes}
    sources = [by_id[s] for s, d in graph.edges if d == "out"]
    assert [n.state for n in sources] == list(cell.output_states)
    if name == "normal":  # TF-slim's NASNet-A normal cell also concatenates h_{i-1}
        assert cell.output_states == (1, 2, 3, 4, 5, 6)
        assert sources[0].label == "h_{i-1}"


@pytest.mark.parametrize(("name", "cell", "reduction"), CELLS)
def test_edges_go_left_to_right_without_overlaps(name, cell, reduction):
    graph = cell_graph(cell, reduction=reduction)
    by_id = {n.id: n for n in graph.nodes}
    assert len(by_id) == len(graph.nodes)
    for src, dst in graph.edges:
        assert src in by_id and dst in by_id
        assert by_id[src].layer < by_id[dst].layer
    assert {n.layer for n in graph.nodes if n.kind == "input"} == {0}
    for n in graph.nodes:  # longest path: one column after the furthest predecessor
        pred_layers = [by_id[s].layer for s, d in graph.edges if d == n.id]
        assert n.layer == (1 + max(pred_layers) if pred_layers else 0)
        rows = sorted(m.row for m in graph.nodes if m.layer == n.layer)
        assert all(b - a >= 1 - 1e-9 for a, b in pairwise(rows))
    assert min(n.row for n in graph.nodes) == 0


def test_block_wiring_and_reduction_strides():
    cell = NASNET_A.reduction
    graph = cell_graph(cell, reduction=True)
    by_id = {n.id: n for n in graph.nodes}
    for j, block in enumerate(cell.blocks):
        combine = by_id[f"b{j}"]
        assert combine.label == block.combine and combine.state == j + NUM_INPUTS
        ops = [by_id[s] for s, d in graph.edges if d == combine.id]
        assert [o.op for o in ops] == list(block.ops)
        for op, src in zip(ops, block.inputs, strict=True):
            (feeder,) = [by_id[s] for s, d in graph.edges if d == op.id]
            assert feeder.state == src
            assert op.stride == (2 if src < NUM_INPUTS else 1)
    # block 3 reads two block outputs: its ops sit after their combines
    assert by_id["b3op0"].layer == by_id["b1"].layer + 1


def test_concat_combine_and_paper_rule_output():
    cell = CellGenotype(
        (
            Block((0, 1), ("conv_3x3", "max_pool_5x5"), "concat"),
            Block((2, 0), ("identity", "conv_1x7_7x1")),
        )
    )
    graph = cell_graph(cell, reduction=False)
    assert graph.node("b0").label == "concat"
    assert [s for s, d in graph.edges if d == "out"] == ["b1"]
    assert graph.node("out").layer == 5


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
    ):
        assert label in text
    assert not list(tmp_path.glob("sub/.*.tmp"))


def _rows():
    rows = []
    scores = {
        ("random", 0): [None, 0.5, 0.4, None, 0.7, 0.6],
        ("random", 1): [0.3, 0.35, float("nan"), 0.8],
        ("evolution", 0): [0.2, None, 0.9, 0.1],
    }
    for (strategy, seed), values in scores.items():
        for i, s in enumerate(values, start=1):
            rows.append({"strategy": strategy, "seed": seed, "index": i, "score": s})
    return rows


def test_search_curve_best_so_far():
    rows = _rows()
    curves = search_curve(list(reversed(rows)))  # row order must not matter
    assert set(curves) == {"random seed 0", "random seed 1", "evolution"}
    assert curves["random seed 0"] == [(2, 0.5), (3, 0.5), (4, 0.5), (5, 0.7), (6, 0.7)]
    assert curves["random seed 1"] == [(1, 0.3), (2, 0.35), (3, 0.35), (4, 0.8)]
    assert curves["evolution"] == [(1, 0.2), (2, 0.2), (3, 0.9), (4, 0.9)]
    for curve in curves.values():
        values = [v for _, v in curve]
        assert values == sorted(values) and not any(math.isnan(v) for v in values)
    failed = [{"strategy": "x", "seed": 3, "index": 1, "score": None}]
    assert search_curve(failed) == {"x": []}


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_save_search_curve(tmp_path, suffix):
    path = save_search_curve(tmp_path / f"curve{suffix}", _rows(), title="demo")
    assert path.exists()
    if suffix == ".png":
        with Image.open(path) as im:
            assert im.format == "PNG"
            lo, hi = im.convert("L").getextrema()
            assert hi - lo > 100
    else:
        text = "".join(ET.parse(path).getroot().itertext())
        assert "demo" in text and "evolution" in text and "%" in text


def _genotypes():
    import random

    from cnnzoo.nas.space import SearchSpace

    return [NASNET_A, SearchSpace().sample(random.Random(3))]


@pytest.mark.parametrize("genotype", _genotypes(), ids=["nasnet_a", "random3"])
def test_labels_fit_their_boxes_and_arrows_miss_them(genotype):
    from cnnzoo.nas.draw import BOX_HEIGHT, genotype_figure, text_width

    fig = genotype_figure(genotype)
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        boxes = {p.get_gid()[: -len("-box")]: p for p in ax.patches if p.get_gid().endswith("-box")}
        assert boxes
        widths = {round(p.get_width(), 9) for p in boxes.values()}
        assert len(widths) == 1  # one shared column width
        texts = [t for t in ax.texts if t.get_gid()]  # labels and stride marks
        assert len(texts) >= len(boxes)
        for text in texts:
            box = boxes[text.get_gid().rsplit("-", 1)[0]]
            assert box.get_width() >= text_width(text.get_text(), text.get_fontsize()) + 0.1
            inner = box.get_window_extent(renderer).padded(-2)  # at least 2 px of padding
            extent = text.get_window_extent(renderer)
            assert inner.x0 <= extent.x0 and extent.x1 <= inner.x1, text.get_text()
            assert inner.y0 <= extent.y0 and extent.y1 <= inner.y1, text.get_text()
        arrows = [p for p in ax.patches if "-edge-" in p.get_gid()]
        assert arrows
        for arrow in arrows:
            cell, _, _, dst = arrow.get_gid().split("-")
            points = [v for poly in arrow.get_path().to_polygons(closed_only=False) for v in poly]
            for name, box in boxes.items():  # no arrow runs through a box
                x0, y0 = box.get_x() + 0.01, box.get_y() + 0.01
                x1, y1 = x0 + box.get_width() - 0.02, y0 + BOX_HEIGHT - 0.02
                inside = [(x, y) for x, y in points if x0 < x < x1 and y0 < y < y1]
                assert not inside, (arrow.get_gid(), name)
            # the arrowhead's tip ends on the target's left side
            tip_x = max(x for x, _ in points)
            assert tip_x == pytest.approx(boxes[f"{cell}-{dst}"].get_x(), abs=0.02)
    w, h = fig.get_size_inches()
    assert w <= 20 and h <= 12
