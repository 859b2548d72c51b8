"""The drawing layer (cnnzoo.viz.graph): escaped DOT, real SVG and PNG files from Graphviz's dot,
the layout read back, and one clear line when dot is missing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from itertools import pairwise

import pytest

from cnnzoo.models.genotype import NASNET_A
from cnnzoo.nas.draw import cell_graph
from cnnzoo.viz.graph import (
    INSTALL_HINT,
    STYLE,
    Edge,
    Graph,
    GraphvizError,
    Group,
    Node,
    dot_string,
    html_text,
    layout,
    render,
    run_dot,
    save_graph,
    to_dot,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz's dot is missing: run 'apt-get install graphviz' (scripts/setup.sh does)",
)

HOSTILE = [
    'say "hi"',
    "back\\slash",
    "ends with a backslash\\",
    '\\"',
    "<b>bold</b> & <br/>",
    "two\nlines",
    '"]; evil [label="x',
    "} digraph { a -> b",
    "&amp; &#60; <<>>",
    "tab\there",
    "",
]


def _svg_texts(svg: bytes) -> list[str]:
    """Every ``<text>`` of an SVG (which must parse as XML)."""
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def _svg_ids(svg: bytes, cls: str) -> set[str]:
    """The ids of the SVG's ``<g class=cls>`` elements."""
    root = ET.fromstring(svg)
    return {g.get("id") for g in root.iter(f"{SVG}g") if g.get("class") == cls}


def _hostile_graph() -> Graph:
    """Every hostile string as a node label, node id, sub-label, edge label and group title."""
    nodes = [
        Node(f"id {i}: {text}", text, "conv", sublabel=text, group="g" if i % 2 else None)
        for i, text in enumerate(HOSTILE)
    ]
    edges = [Edge(a.id, b.id, label=b.label) for a, b in pairwise(nodes)]
    return Graph(nodes, edges, [Group("g", 'group "<&>"\\ title')], title="a <title> & \\ more")


def _lines(text: str) -> list[str]:
    return [line for line in text.replace("\t", "\ufffd").splitlines() if line.strip()]


def test_html_text_escapes_markup_and_breaks_lines():
    assert html_text("a \"b\" <c> & 'd'") == "a &quot;b&quot; &lt;c&gt; &amp; &#x27;d&#x27;"
    assert html_text("one\ntwo\r\nthree") == "one<br/>two<br/>three"
    assert html_text("back\\slash") == "back\\slash"  # literal inside an HTML-like label
    assert html_text("bell\x07") == "bell\ufffd"
    assert html_text("") == ""


def test_dot_string_escapes_quotes_backslashes_and_newlines():
    assert dot_string('say "hi"') == '"say \\"hi\\""'
    assert dot_string("a\\b") == '"a\\\\b"'
    assert dot_string("trailing\\") == '"trailing\\\\"'
    assert dot_string("one\ntwo") == '"one\\ntwo"'
    assert dot_string("nul\x00") == '"nul\ufffd"'


STATEMENT = re.compile(
    r"digraph cnnzoo \{|(graph|node|edge) \[.*\];|n\d+ \[.*\];|n\d+ -> n\d+ \[.*\];"
    r"|subgraph cluster_\d+(_body)? \{|\{rank=same;( n\d+;)+\}|\}"
)


def test_to_dot_never_uses_caller_text_as_identifiers():
    text = to_dot(_hostile_graph())
    lines = text.splitlines()
    assert all(STATEMENT.fullmatch(line.strip()) for line in lines), text
    declared = [line.strip().split(" ", 1)[0] for line in lines if re.match(r"\s*n\d+ \[", line)]
    assert sorted(declared) == sorted(f"n{i}" for i in range(len(HOSTILE)))


@needs_dot
def test_hostile_labels_render_exactly():
    graph = _hostile_graph()
    svg = render(graph, "svg")
    texts = _svg_texts(svg)
    joined = "\n".join(texts)
    for text in HOSTILE:
        for line in _lines(text):
            assert line in joined, line
    assert 'group "<&>"\\ title' in texts and "a <title> & \\ more" in texts
    ids = _svg_ids(svg, "node")  # exact unless an id holds an entity or a control character
    assert len(ids) == len(graph.nodes)
    assert {n.id for n in graph.nodes if not re.search(r"[&\n\t]", n.id)} <= ids
    doc = json.loads(run_dot(to_dot(graph), "json"))  # no node or edge was injected
    objects = [o for o in doc["objects"] if "pos" in o]
    assert len(objects) == len(HOSTILE)
    assert len(doc["edges"]) == len(HOSTILE) - 1


@needs_dot
def test_save_graph_writes_valid_png_and_svg(tmp_path):
    graph = Graph(
        [Node("x", "input", "input"), Node("c", "conv 3x3", "conv", "/2"), Node("y", "fc", "fc")],
        [Edge("x", "c", "3x224x224"), Edge("c", "y")],
    )
    png, svg = save_graph(graph, tmp_path / "sub" / "net")
    assert (png, svg) == (tmp_path / "sub" / "net.png", tmp_path / "sub" / "net.svg")
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    texts = _svg_texts(svg.read_bytes())
    for label in ("input", "conv 3x3", "/2", "fc", "3x224x224"):
        assert any(label in t for t in texts), label
    assert not [p for p in (tmp_path / "sub").iterdir() if p.name.startswith(".")]
    assert save_graph(graph, tmp_path / "only", formats=("svg",)) == (tmp_path / "only.svg",)


@needs_dot
def test_png_is_drawn_at_the_style_resolution(tmp_path):
    from PIL import Image

    graph = Graph([Node("a", "a"), Node("b", "b")], [Edge("a", "b")])
    (png,) = save_graph(graph, tmp_path / "g", formats=("png",))
    box = layout(graph)
    with Image.open(png) as im:
        width, height = im.size
    pad = 2 * STYLE.margin
    assert width == pytest.approx((box.width + pad) * STYLE.png_dpi, abs=3)
    assert height == pytest.approx((box.height + pad) * STYLE.png_dpi, abs=3)


@needs_dot
def test_every_node_of_a_cell_is_in_the_svg():
    graph = cell_graph(NASNET_A.reduction, reduction=True)
    svg = render(graph, "svg")
    assert _svg_ids(svg, "node") == {n.id for n in graph.nodes}
    assert {g.id for g in graph.groups} <= _svg_ids(svg, "cluster")
    texts = _svg_texts(svg)
    for node in graph.nodes:
        assert any(node.label in t for t in texts), node.label
    assert sum(t == "/2" for t in texts) == sum(n.sublabel == "/2" for n in graph.nodes) > 0
    drawn = _svg_ids(svg, "edge")
    assert {f"{e.source}->{e.target}" for e in graph.edges} <= drawn


def test_missing_dot_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    graph = Graph([Node("a", "a")])
    with pytest.raises(GraphvizError) as info:
        save_graph(graph, tmp_path / "g")
    message = str(info.value)
    assert "\n" not in message
    assert "'dot'" in message and "apt-get install graphviz" in message and INSTALL_HINT in message
    assert isinstance(info.value, ValueError)  # the CLI's boundary prints it as one line
    assert not list(tmp_path.iterdir())


@needs_dot
def test_dot_failure_and_timeout_are_one_line(monkeypatch):
    with pytest.raises(GraphvizError, match=r"^dot -Tsvg failed: ") as info:
        run_dot("digraph { a -> }", "svg")
    assert "\n" not in str(info.value)

    def slow(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], kwargs["timeout"])

    monkeypatch.setattr(subprocess, "run", slow)
    with pytest.raises(GraphvizError, match=r"longer than 0\.5 s"):
        run_dot("digraph { a }", "svg", timeout=0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nodes": [Node("a", "a"), Node("a", "b")]}, "repeated"),
        ({"nodes": [Node("a", "a")], "groups": [Group("a", "g")]}, "repeated"),
        ({"nodes": [Node("a", "a")], "edges": [Edge("a", "b")]}, "names no node 'b'"),
        ({"nodes": [Node("a", "a", group="g")]}, "which does not exist"),
        ({"nodes": [], "groups": [Group("g", "", "h"), Group("h", "", "g")]}, "inside itself"),
        ({"nodes": [Node("a", "a")], "ranks": [("a", "z")]}, "ranks"),
        ({"nodes": [Node("a", "a")], "direction": "up"}, "direction"),
    ],
)
def test_malformed_graphs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Graph(**kwargs)


def _network(direction: str) -> Graph:
    """A small network of modules: a stem, two stages of two residual blocks (framed groups in
    framed groups), a head; the stage-1 blocks' first boxes share a rank."""
    nodes, edges, groups = [Node("x", "input", "input")], [], []
    previous = "x"
    for s in (1, 2):
        groups.append(Group(f"stage{s}", f"stage {s}"))
        for b in (1, 2):
            block = f"s{s}b{b}"
            groups.append(Group(block, f"block {b}", parent=f"stage{s}"))
            names = [f"{block}-conv1", f"{block}-conv2", f"{block}-add"]
            nodes += [
                Node(names[0], "conv 3x3", "conv", group=block),
                Node(names[1], "conv 3x3", "conv", group=block),
                Node(names[2], "add", "combine", group=block),
            ]
            edges += [Edge(previous, names[0]), Edge(names[0], names[1]), Edge(names[1], names[2])]
            edges.append(Edge(previous, names[2], label="identity"))
            previous = names[2]
    nodes.append(Node("fc", "fc 1000", "fc"))
    edges.append(Edge(previous, "fc"))
    return Graph(nodes, edges, groups, direction=direction, title="a tiny ResNet")


def _members(graph: Graph, group_id: str) -> set[str]:
    """The ids of the nodes inside ``group_id``, directly or in groups inside it."""
    parents = {g.id: g.parent for g in graph.groups}

    def inside(group: str | None) -> bool:
        while group is not None:
            if group == group_id:
                return True
            group = parents[group]
        return False

    return {n.id for n in graph.nodes if inside(n.group)}


def _check_geometry(graph: Graph, box) -> None:
    """Boxes apart, labels inside their boxes, groups around their members, arrows around the
    boxes they do not join and clear of the titles of the groups they stay in, every arrowhead
    on its target's border."""
    nodes = list(box.nodes.items())
    for i, (a, ba) in enumerate(nodes):
        for b, bb in nodes[i + 1 :]:
            assert not ba.overlaps(bb), (a, b)
        label = box.labels[a]
        assert ba.x0 + 0.03 <= label.x0 and label.x1 <= ba.x1 - 0.03, a
        assert ba.y0 <= label.y0 and label.y1 <= ba.y1, a
        for title in box.titles.values():
            assert not ba.overlaps(title), a
    for node in graph.nodes:
        if node.group is not None:
            g, n = box.groups[node.group], box.nodes[node.id]
            assert g.x0 <= n.x0 and n.x1 <= g.x1 and g.y0 <= n.y0 and n.y1 <= g.y1
    drawn = [e for e in graph.edges if not e.hidden]
    assert [(r.source, r.target) for r in box.routes] == [(e.source, e.target) for e in drawn]
    for route in box.routes:
        points = route.polyline()
        for node_id, b in box.nodes.items():
            shrunk = type(b)(b.x0 + 0.01, b.y0 + 0.01, b.x1 - 0.01, b.y1 - 0.01)
            assert not any(shrunk.contains(x, y) for x, y in points), (route, node_id)
        for group_id, title in box.titles.items():  # an arrow within a group misses its title
            if {route.source, route.target} <= _members(graph, group_id):
                assert not any(title.contains(x, y) for x, y in points), (route, group_id)
        target = box.nodes[route.target]
        tx, ty = route.tip
        on_side = min(
            abs(tx - target.x0), abs(tx - target.x1), abs(ty - target.y0), abs(ty - target.y1)
        )
        assert on_side < 0.02, route


@needs_dot
@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_layout_of_a_network_of_groups(direction):
    graph = _network(direction)
    box = layout(graph)
    _check_geometry(graph, box)
    widths = {round(b.width, 4) for b in box.nodes.values()}
    assert len(widths) == 1  # STYLE.same_width: one column width
    forward = 0 if direction == "LR" else 1  # arrows run along x (LR) or y (TB)
    for route in box.routes:
        src, dst = box.nodes[route.source].centre, box.nodes[route.target].centre
        assert dst[forward] > src[forward]
    stage1, stage2 = box.groups["stage1"], box.groups["stage2"]
    assert (stage2.x0 >= stage1.x1) if direction == "LR" else (stage2.y0 >= stage1.y1)
    assert "a tiny ResNet" in _svg_texts(render(graph, "svg"))


@needs_dot
@pytest.mark.parametrize("direction", ["LR", "TB", "RL", "BT"])
def test_ranks_keep_their_order_and_first_group_leads(direction):
    nodes = [Node(f"{g}{i}", f"{g}{i}", group=g) for g in "pq" for i in range(3)]
    edges = [Edge(f"{g}{i}", f"{g}{i + 1}") for g in "pq" for i in range(2)]
    ranks = [("p0", "q0")]
    graph = Graph(nodes, edges, [Group("p", "P"), Group("q", "Q")], direction, ranks=ranks)
    box = layout(graph, STYLE)
    across = 1 if direction in ("LR", "RL") else 0  # a rank runs down (LR) or across (TB)
    assert box.nodes["p0"].centre[across] < box.nodes["q0"].centre[across]
    assert box.nodes["p0"].centre[1 - across] == pytest.approx(box.nodes["q0"].centre[1 - across])
    assert box.groups["p"].centre[across] < box.groups["q"].centre[across]


@needs_dot
def test_natural_widths_without_same_width():
    from dataclasses import replace

    graph = Graph([Node("a", "a"), Node("b", "a much longer label")], [Edge("a", "b")])
    natural = layout(graph, replace(STYLE, same_width=False))
    assert natural.nodes["a"].width < natural.nodes["b"].width
    same = layout(graph)
    assert same.nodes["a"].width == pytest.approx(same.nodes["b"].width)
