"""``cnnzoo draw``: every model's drawing checked against its traced module graph, the numbers on
its nodes against ``cnnzoo summary``, shortcuts and concatenations as edges, the files written,
and bad input as one line."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from cnnzoo.analysis.profiler import INPUT, profile_flow
from cnnzoo.analysis.report import collapse, name_depth
from cnnzoo.cli import main
from cnnzoo.draw.diagram import LAYERS, branch_ranks, diagram, max_depth, to_dict, to_graph
from cnnzoo.registry import REGISTRY, create_model


def build(name: str):
    with torch.device("meta"):
        return create_model(name).eval()


def check_against_flow(d, name: str, flow) -> None:
    """Every row in exactly one node; every edge of the flow between two nodes drawn (a
    shortcut into a block's joint, from where it leaves the main path)."""
    owner = {}
    for node in d.nodes:
        for row in node.rows:
            assert row not in owner, f"{name}: {row} in two nodes"
            owner[row] = node.id
    assert set(owner) == {r.name for r in d.report.rows}, name
    drawn = {(e.source, e.target) for e in d.edges}
    ids = {n.id for n in d.nodes}
    assert all(s in ids and t in ids for s, t in drawn), name
    joints = {n.name: n.id for n in d.nodes if n.kind == "joint"}

    def out(node: str) -> str:
        return joints.get(node, node)

    for a, b in flow.edges:
        source = "input" if a == INPUT else owner[a]
        target = owner[b]
        if source == target:
            continue
        if target in joints and (out(source), joints[target]) in drawn:
            continue  # the shortcut, drawn into the joint
        assert (out(source), target) in drawn, f"{name}: {a} -> {b} not drawn"


def check_numbers(d, report, summaries: dict[int, dict], label: str) -> None:
    """A node's numbers are ``summary --depth K``'s row of that name, K its name's depth."""
    for node in d.nodes:
        if node.row is None:
            continue
        k = name_depth(node.name)
        if k not in summaries:
            summaries[k] = {r.name: r for r in collapse(report.rows, k, report.module_types)}
        assert node.row == summaries[k][node.name], (label, node.name)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_model_draws_collapsed_and_expanded(name):
    model = build(name)
    size = REGISTRY[name].input_size
    traced = profile_flow(model, size)  # once: both depths draw from it
    summaries: dict[int, dict] = {}
    for depth in (1, LAYERS):
        d = diagram(model, size, label=name, depth=depth, traced=traced)
        check_against_flow(d, name, traced[1])
        check_numbers(d, traced[0], summaries, f"{name} depth {depth}")
        to_graph([d])  # a well-formed graph
    assert len([n for n in d.nodes if n.row is not None]) == len(d.report.rows)  # every layer


@pytest.mark.parametrize("name", ["resnet50", "googlenet", "nasnet_a_mobile", "shufflenet_v1"])
def test_node_numbers_are_the_summary_rows_at_every_depth(name):
    model = build(name)
    size = REGISTRY[name].input_size
    traced = profile_flow(model, size)
    summaries: dict[int, dict] = {}
    for depth in range(1, max_depth(traced[0]) + 1):
        d = diagram(model, size, label=name, depth=depth, traced=traced)
        check_numbers(d, traced[0], summaries, f"{name} depth {depth}")


def test_resnet_draws_its_shortcuts_and_plain_has_none():
    res = diagram(build("resnet34"), (3, 224, 224), depth=1)
    plain = diagram(build("plain34"), (3, 224, 224), depth=1)
    shortcuts = [e for e in res.edges if e.kind == "shortcut"]
    assert len(shortcuts) == 16  # one per block, Fig. 3 right
    assert sorted(e.label for e in shortcuts).count("projection") == 3  # option B, Sec. 3.3
    assert all(e.target.endswith(":join") for e in shortcuts)
    assert not [e for e in plain.edges if e.kind == "shortcut"]
    assert {n.what.split("\n")[0] for n in plain.nodes if n.block} == {"plain block"}
    layers = diagram(build("resnet18"), (3, 224, 224), depth=LAYERS)
    assert ("maxpool", "layer1.0.add#0") in {
        (e.source, e.target) for e in layers.edges if e.kind == "shortcut"
    }


def test_inception_module_is_four_branches_into_a_concat():
    d = diagram(build("googlenet"), (3, 224, 224), block="inception3a")
    concat = [e for e in d.edges if e.target == "inception3a.cat#0"]
    assert len(concat) == 4 and {e.kind for e in concat} == {"concat"}
    assert [n.id for n in d.nodes if n.kind == "input"] == ["in:maxpool2"]
    assert sum(e.source == "in:maxpool2" for e in d.edges) == 4
    heads = ("inception3a.branch1", "inception3a.branch2.0", "inception3a.branch3.0")
    row = (*heads, "inception3a.branch4.0")  # Fig. 2(b): 1x1, 3x3, 5x5, pool
    assert branch_ranks(d) == [row] and to_graph([d]).ranks == (row,)


def test_pass_throughs_fold_into_what_they_follow():
    """A NASNet cell reads as Zoph et al.'s Fig. 4: its ScheduledDropPath calls and the
    concat's Identity modules are drawn in the box of the operation (a layer or a block) they
    follow; the identity operations stay boxes; the numbers are the block's own. A state read
    through an identity and also directly is drawn from the state for the direct reads."""
    cell = diagram(build("nasnet_a_mobile"), (3, 224, 224), block="cell_0")
    types = [n.type for n in cell.nodes]
    assert "ScheduledDropPath" not in types
    identities = sorted(n.id for n in cell.nodes if n.type == "Identity")
    # the two identity operations, and h_{i-1} passed on into the concat
    assert identities == [
        "cell_0.blocks.2.right",
        "cell_0.blocks.4.right",
        "cell_0.concat_adjust.0",
    ]
    edges = {(e.source, e.target) for e in cell.edges}
    for reader in (
        "cell_0.blocks.3.left.pool",
        "cell_0.blocks.3.right.pool",
        "cell_0.concat_adjust.0",
    ):
        assert ("cell_0.conv_prev_1x1", reader) in edges
        assert ("cell_0.blocks.2.right", reader) not in edges
    sep = next(n for n in cell.nodes if n.id == "cell_0.blocks.1.right")
    assert sep.rows[-1] == "cell_0.drop_path#3" and sep.what == "sep conv, twice"
    assert sep.row.name == "cell_0.blocks.1.right" and sep.block
    pool = next(n for n in cell.nodes if n.id == "cell_0.blocks.2.left.pool")
    assert pool.rows == ("cell_0.blocks.2.left.pool", "cell_0.drop_path#4")
    assert pool.what == "3x3 avg pool"  # folded without a word
    assert len(cell.nodes) == 21  # 2 inputs, 2 adjustments, 10 operations, 5 adds, h_{i-1}, concat
    cifar = diagram(build("resnet20"), (3, 32, 32))
    stem = next(n for n in cifar.nodes if n.id == "bn1")
    assert stem.rows == ("bn1", "relu", "maxpool") and stem.what == "BN → ReLU"
    layers = diagram(build("nasnet_a_mobile"), (3, 224, 224), block="cell_0", depth=LAYERS)
    assert any(n.type == "ScheduledDropPath" for n in layers.nodes)  # every layer its own box


def test_a_genotype_draws(tmp_path):
    from cnnzoo.models.genotype import Genotype
    from cnnzoo.nas.space import random_genotype

    genotype = random_genotype(3)
    path = tmp_path / "g.json"
    path.write_text(genotype.to_json())
    out = tmp_path / "g.json.out.json"
    assert main(["draw", "nasnet_cifar", "--genotype", str(path), "--out", str(out)]) == 0
    data = json.loads(out.read_text())["models"][0]
    assert Genotype.from_file(path) == genotype
    assert any(n["type"] == "Cell" for n in data["nodes"])


def test_outputs_svg_png_dot_json(tmp_path, capsys):
    for suffix in ("svg", "png", "dot", "json"):
        path = tmp_path / f"r.{suffix}"
        assert main(["draw", "resnet18", "--out", str(path)]) == 0
        assert path.stat().st_size > 1000
    svg = (tmp_path / "r.svg").read_text()
    assert 'id="layer2.1"' in svg and "stroke-dasharray" in svg  # shortcuts dashed
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads((tmp_path / "r.json").read_text())
    node = next(n for n in data["models"][0]["nodes"] if n["id"] == "layer2.0")
    assert node["params"] == 230_144 and node["shape"] == [1, 128, 28, 28]
    assert "wrote" in capsys.readouterr().out


def test_compare_draws_two_side_by_side(tmp_path):
    d = [diagram(build(n), (3, 224, 224), label=n) for n in ("plain34", "resnet34")]
    graph = to_graph(d)
    assert [g.id for g in graph.groups if g.parent is None] == ["m0", "m1"]
    assert to_dict(d)["models"][1]["model"] == "resnet34"


@pytest.mark.parametrize(
    "argv, words",
    [
        (["vgg16", "--depth", "2"], "--depth 2: vgg16 has no blocks"),
        (["resnet18", "--depth", "0"], "--depth must be a positive integer"),
        (["googlenet", "--block", "inception9z"], "has no module 'inception9z'; closest"),
        (["resnet18", "--out", "x.gif"], "the suffix must be one of"),
        (["resnet18", "--genotype", "g.json"], "--genotype is for a nasnet_* model"),
    ],
)
def test_bad_input_is_one_line(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["draw", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err


def test_a_checkpoint_that_does_not_load_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["draw", str(bad), "--out", str(tmp_path / "x.svg")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.pt" in err


def test_blocks_list_their_convolutions_and_activations_fold_into_their_layer():
    bottleneck = diagram(build("resnet50"), (3, 224, 224))
    node = next(n for n in bottleneck.nodes if n.id == "layer1.0")
    assert node.what == "residual block\n1x1, 64 | 3x3, 64 | 1x1, 256"  # Table 1, conv2_x
    vgg = diagram(build("vgg16"), (3, 224, 224))
    first = next(n for n in vgg.nodes if n.id == "features.0")
    assert first.what == "3x3 conv, 64 → ReLU" and first.rows == ("features.0", "features.1")
    assert first.row.name == "features.0"  # the box keeps its layer's numbers
    assert sum(n.kind == "conv" for n in vgg.nodes) == 13  # configuration D
    layers = diagram(build("vgg16"), (3, 224, 224), depth=LAYERS)
    assert any(n.id == "features.1" for n in layers.nodes)  # every layer its own box


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_model_renders_with_dot(name, tmp_path):
    from cnnzoo.draw.diagram import STYLE
    from cnnzoo.viz.graph import render

    model = build(name)
    size = REGISTRY[name].input_size
    for depth in (1, LAYERS):
        svg = render(to_graph([diagram(model, size, label=name, depth=depth)]), "svg", STYLE)
        assert svg.count(b'class="node"') >= 2, (name, depth)


def test_a_nas_train_checkpoint_draws_its_own_genotype(tmp_path):
    """A ``nas train`` checkpoint carries its genotype in ``model_kwargs``: its cells draw."""
    from cnnzoo.checkpoint import save_checkpoint
    from cnnzoo.nas.proxy import candidate_kwargs
    from cnnzoo.nas.space import random_genotype

    genotype = random_genotype(5)
    kwargs = {**candidate_kwargs(genotype, 1, 8), "num_classes": 10}
    model = create_model("nasnet_cifar", **kwargs)
    dataset = {
        "name": "cifar10",
        "num_classes": 10,
        "in_chans": 3,
        "image_size": 32,
        "input_size": 32,
        "class_names": [str(i) for i in range(10)],
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "data_dir": None,
    }
    path = tmp_path / "best.pt"
    state = {"model_name": "nasnet_cifar", "model_kwargs": kwargs, "dataset": dataset}
    save_checkpoint(path, {**state, "model": model.state_dict()})
    out = tmp_path / "cells.json"
    assert main(["draw", str(path), "--depth", "2", "--out", str(out)]) == 0
    data = json.loads(out.read_text())["models"][0]
    assert data["model"] == f"{tmp_path.name}/best"
    assert {g["id"] for g in data["groups"]} >= {"cell_0"}
    ours = diagram(model.eval(), (3, 32, 32), depth=2)
    nasnet_a = diagram(create_model("nasnet_cifar").eval(), (3, 32, 32), depth=2)
    drawn = [(n["id"], n["type"]) for n in data["nodes"]]
    assert drawn == [(n.id, n.type) for n in ours.nodes]  # the checkpoint's own cells
    assert drawn != [(n.id, n.type) for n in nasnet_a.nodes]


def test_a_joint_only_where_a_block_ends_in_its_shortcut():
    """ShuffleNet's stride-2 unit concatenates a 3x3 average pool of its input (Fig. 2(c)); a
    NASNet cell ends in a concat of its blocks, with no shortcut around the cell."""
    shuffle = diagram(build("shufflenet_v1"), (3, 224, 224))
    kinds = {(e.target, e.label) for e in shuffle.edges if e.kind == "shortcut"}
    assert ("stage2.0:join", "pool") in kinds and ("stage2.1:join", "identity") in kinds
    nasnet = diagram(build("nasnet_a_mobile"), (3, 224, 224))
    assert not [n for n in nasnet.nodes if n.kind == "joint"]
    cell = diagram(build("nasnet_a_mobile"), (3, 224, 224), block="cell_0")
    assert {e.label for e in cell.edges if e.kind == "shortcut"} == {"identity"}


class _TwoReads(nn.Module):
    """One state read through an Identity and directly by a convolution, then summed."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.skip = nn.Identity()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        h = self.stem(x)
        return self.skip(h) + self.conv(h)


def test_a_module_that_returns_its_argument_does_not_take_over_the_other_reads():
    report, flow = profile_flow(_TwoReads(), (1, 8, 8))
    edges = set(flow.edges)
    assert ("stem", "skip") in edges and ("stem", "conv") in edges
    assert ("skip", "conv") not in edges
    assert {("skip", "add#0"), ("conv", "add#0")} <= edges
    assert [r.name for r in report.rows] == ["stem", "skip", "conv", "add#0"]


def test_a_block_node_shows_what_cnnzoo_summary_prints(capsys):
    """End to end: the JSON of ``cnnzoo draw`` against the CSV of ``cnnzoo summary --depth 2``."""
    import csv
    import io

    assert main(["summary", "resnet50", "--depth", "2", "--format", "csv"]) == 0
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    d = diagram(build("resnet50"), (3, 224, 224))
    drawn = {n.name: n.row for n in d.nodes if n.row is not None and name_depth(n.name) == 2}
    assert {"layer1.0", "layer2.3", "layer4.2"} <= set(drawn)
    for name, row in drawn.items():
        printed = rows[name]
        assert int(printed["params_trainable"]) == row.params_trainable
        assert int(printed["macs_conv_linear"]) == row.macs_conv_linear
        assert printed["output_shape"] == "x".join(map(str, row.output_shape))
        assert int(printed["rf_h"]) == row.receptive_field.h.size
