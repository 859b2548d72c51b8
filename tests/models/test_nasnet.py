"""Family tests of the NASNet file: genotype data, the builder, NASNet-A Mobile and Large."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.analysis import profile
from cnnzoo.models import nasnet
from cnnzoo.models.base import AuxOutputs
from cnnzoo.models.genotype import NASNET_A, OPERATION_NAMES, Block, CellGenotype, Genotype
from cnnzoo.models.nasnet import (
    OPERATIONS,
    FactorizedReduction,
    NASNet,
    ReLUConvBN,
    ScheduledDropPath,
)
from cnnzoo.nas.space import random_genotype
from cnnzoo.reference import reference_models

REFERENCE = {row.name: row for row in reference_models()}


def param_names_and_count(model: nn.Module) -> tuple[list[str], int]:
    return [n for n, _ in model.named_parameters()], sum(p.numel() for p in model.parameters())


def small_net(genotype: Genotype, filters: int = 4, **kwargs) -> NASNet:
    """A CIFAR-stem network with F = ``filters``, small enough to run on CPU at once."""
    options = {"num_cells": 1, "stem": "cifar", "num_classes": 10}
    penultimate = nasnet.penultimate_filters_for(genotype, filters)
    return NASNet(genotype, penultimate_filters=penultimate, **{**options, **kwargs})


# --- the genotype ---------------------------------------------------------------------------


def test_operation_table_has_the_papers_thirteen_operations() -> None:
    assert len(OPERATION_NAMES) == 13  # Sec. 3
    assert tuple(OPERATIONS) == OPERATION_NAMES


@pytest.mark.parametrize("name", OPERATION_NAMES)
@pytest.mark.parametrize("stride", [1, 2])
def test_every_operation_maps_to_filters_and_strides(name: str, stride: int) -> None:
    op = OPERATIONS[name](6, 4, stride)
    out = op(torch.randn(2, 6, 7, 7))
    assert out.shape == (2, 4, 4 if stride == 2 else 7, 4 if stride == 2 else 7)
    assert isinstance(OPERATIONS[name](4, 4, 1), nn.Identity) == (name == "identity")


def test_separable_convolutions_are_applied_twice() -> None:
    op = OPERATIONS["sep_conv_5x5"](8, 8, 1)
    convs = [m for m in op.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.groups) for c in convs] == [((5, 5), 8), ((1, 1), 1)] * 2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in op.modules()) == 2


def test_genotype_json_round_trip_rebuilds_the_same_network() -> None:
    for genotype in (NASNET_A, random_genotype(3), random_genotype(4, num_blocks=2)):
        text = genotype.to_json(indent=2)
        again = Genotype.from_json(text)
        assert again == genotype
        assert Genotype.from_dict(json.loads(text)) == genotype
        with torch.device("meta"):
            a, b = small_net(genotype), small_net(again)
        assert param_names_and_count(a) == param_names_and_count(b)
    with torch.device("meta"):
        a = nasnet.nasnet_a_mobile()
        b = nasnet.nasnet_a_mobile(genotype=Genotype.from_json(NASNET_A.to_json()))
        c = nasnet.nasnet_a_mobile(genotype=NASNET_A.to_json())  # JSON text is accepted too
    assert param_names_and_count(a) == param_names_and_count(b) == param_names_and_count(c)


def edited(path: tuple, value) -> dict:
    """NASNet-A's dictionary with one entry replaced."""
    data = NASNET_A.to_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            edited(("normal", "blocks", 2, "ops", 1), "sep_conv_9x9"),
            r"normal cell, block 2: unknown operation 'sep_conv_9x9'",
        ),
        (
            edited(("reduction", "blocks", 0, "inputs", 0), 2),
            r"reduction cell, block 0: input index 2 out of range; block 0 may read .* 0\.\.1",
        ),
        (
            edited(("normal", "blocks", 4, "inputs", 1), 7),
            r"normal cell, block 4: input index 7 out of range",
        ),
        (edited(("normal", "blocks", 1, "inputs", 0), -1), r"input index -1 out of range"),
        (
            edited(("normal", "blocks"), NASNET_A.to_dict()["normal"]["blocks"][:4]),
            r"normal cell: has 4 blocks, expected num_blocks=5",
        ),
        (edited(("num_blocks",), 4), r"normal cell: has 5 blocks, expected num_blocks=4"),
        (
            edited(("reduction", "blocks", 3, "combine"), "multiply"),
            r"reduction cell, block 3: unknown combine 'multiply'",
        ),
        (edited(("normal", "blocks", 0, "ops"), ["identity"]), r"exactly 2 inputs and 2 ops"),
        (edited(("normal", "concat"), [1, 2, 9]), r"normal cell: concat index 9 out of range"),
        (edited(("normal", "concat"), [2, 2, 3, 4, 5, 6]), r"concat lists a hidden state twice"),
        (edited(("normal", "concat"), [2, 3, 4, 5]), r"output of block\(s\) \[4\] is neither"),
        (edited(("normal", "concat"), []), r"concat is empty"),
        (edited(("normal", "blocks", 0, "operations"), []), r"block 0: unknown key\(s\)"),
        ({"normal": NASNET_A.to_dict()["normal"]}, r"genotype: missing key\(s\) \['reduction'\]"),
    ],
)
def test_malformed_genotype_is_a_clear_value_error(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Genotype.from_dict(data)
    with pytest.raises(ValueError, match=message):
        Genotype.from_json(json.dumps(data))


def test_malformed_genotype_objects_and_text_are_value_errors() -> None:
    bad_block = Block((0, 1), ("sep_conv_3x3", "conv_2x2"))
    cell = dataclasses.replace(NASNET_A.normal, blocks=(bad_block, *NASNET_A.normal.blocks[1:]))
    with pytest.raises(ValueError, match=r"normal cell, block 0: unknown operation 'conv_2x2'"):
        Genotype(cell, NASNET_A.reduction)
    with pytest.raises(ValueError, match="not valid JSON"):
        Genotype.from_json("{normal: ")
    with pytest.raises(ValueError, match="unknown operation"):
        NASNet(edited(("normal", "blocks", 0, "ops", 0), "conv_2x2"))


# --- conventions ----------------------------------------------------------------------------


def test_nasnet_a_concatenates_tf_slim_states_not_the_unused_rule() -> None:
    # TF-slim: the normal cell concatenates h_{i-1} and all five blocks, the reduction cell blocks
    # 1-4; the paper's rule (DARTS) would give 5 and 3 states.
    assert NASNET_A.normal.output_states == (1, 2, 3, 4, 5, 6)
    assert NASNET_A.reduction.output_states == (3, 4, 5, 6)
    rule = Genotype(
        dataclasses.replace(NASNET_A.normal, concat=None),
        dataclasses.replace(NASNET_A.reduction, concat=None),
    )
    assert rule.normal.output_states == (2, 3, 4, 5, 6)
    assert rule.reduction.output_states == (4, 5, 6)
    assert nasnet.penultimate_filters_for(NASNET_A, 44) == 1056  # 24F: 4 @ 1056 has F = 44


def hand_genotype(concat: tuple[int, ...] | None) -> Genotype:
    """B = 2: block 0 adds two identities of h_i and h_{i-1}; block 1 concatenates a 1x1 conv of
    block 0 and an average pool of h_i (two units wide)."""
    blocks = (
        Block((0, 1), ("identity", "identity")),
        Block((2, 0), ("conv_1x1", "avg_pool_3x3"), combine="concat"),
    )
    cell = CellGenotype(blocks, concat)
    return Genotype(cell, cell, num_blocks=2)


@pytest.mark.parametrize(
    ("concat", "units"),
    [
        (None, 2),  # the rule: block 0 is read by block 1, so only block 1 (2F)
        ((1, 2, 3), 4),  # h_{i-1} (F) + block 0 (F) + block 1 (2F)
        ((0, 3), 3),  # h_i after its 1x1 (F) + block 1 (2F)
    ],
)
def test_cell_output_width_by_hand(concat, units: int) -> None:
    filters = 5
    genotype = hand_genotype(concat)
    assert genotype.normal.units == units
    normal = nasnet.Cell(
        genotype.normal,
        in_channels=12,
        prev_channels=7,
        prev_is_larger=False,
        filters=filters,
        reduction=False,
    )
    out = normal(torch.randn(2, 12, 6, 6), torch.randn(2, 7, 6, 6))
    assert normal.out_channels == out.shape[1] == units * filters
    assert out.shape[2:] == (6, 6)
    # A reduction cell halves the resolution; concatenated input states are reduced to fit.
    reduction = nasnet.Cell(
        genotype.reduction,
        in_channels=12,
        prev_channels=7,
        prev_is_larger=True,
        filters=filters,
        reduction=True,
    )
    out = reduction(torch.randn(2, 12, 6, 6), torch.randn(2, 7, 12, 12))
    assert reduction.out_channels == out.shape[1] == units * filters
    assert out.shape[2:] == (3, 3)
    if concat and 0 in concat:
        assert isinstance(reduction.concat_adjust[concat.index(0)], FactorizedReduction)


def test_cell_inputs_follow_tf_slim() -> None:
    """State 0 is the previous cell after ReLU-1x1-BN; state 1 (h_{i-1}) is reduced when it is
    larger, 1x1-projected when only its width differs, and taken as is otherwise."""
    cell = nasnet.Cell(
        NASNET_A.normal,
        in_channels=30,
        prev_channels=20,
        prev_is_larger=True,
        filters=10,
        reduction=False,
    )
    assert isinstance(cell.conv_1x1, ReLUConvBN)
    assert isinstance(cell.conv_prev_1x1, FactorizedReduction)
    assert cell(torch.randn(1, 30, 4, 4), torch.randn(1, 20, 8, 8)).shape == (1, 60, 4, 4)
    cell = nasnet.Cell(
        NASNET_A.normal,
        in_channels=30,
        prev_channels=20,
        prev_is_larger=False,
        filters=10,
        reduction=False,
    )
    assert isinstance(cell.conv_prev_1x1, ReLUConvBN)
    cell = nasnet.Cell(
        NASNET_A.normal,
        in_channels=30,
        prev_channels=10,
        prev_is_larger=False,
        filters=10,
        reduction=False,
    )
    assert isinstance(cell.conv_prev_1x1, nn.Identity)
    # No h_{i-1} (first cell after the stem): the raw input is state 1; concatenating it needs
    # a 1x1 projection to F.
    cell = nasnet.Cell(
        NASNET_A.normal,
        in_channels=30,
        prev_channels=None,
        prev_is_larger=False,
        filters=10,
        reduction=False,
    )
    assert isinstance(cell.concat_adjust[0], nn.Sequential)  # state 1 is concatenated first
    assert cell(torch.randn(1, 30, 4, 4), None).shape == (1, 60, 4, 4)


def cell_names(model: NASNet) -> list[str]:
    return [name for name, m in model.named_children() if isinstance(m, nasnet.Cell)]


def cell_shapes(model: NASNet, side: int) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        cell.register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:]))
        )
        for name, cell in model.named_children()
        if isinstance(cell, nasnet.Cell)
    ]
    model(torch.empty(1, 3, side, side, device="meta"))
    for h in hooks:
        h.remove()
    return shapes


def test_mobile_cell_shapes_at_224() -> None:
    with torch.device("meta"):
        model = cnnzoo.create_model("nasnet_a_mobile").eval()
    shapes = cell_shapes(model, 224)
    assert shapes["cell_stem_0"] == (44, 56, 56)  # 4 states of F/4 = 11
    assert shapes["cell_stem_1"] == (88, 28, 28)  # 4 states of F/2 = 22
    assert {shapes[f"cell_{i}"] for i in range(4)} == {(264, 28, 28)}  # 6 states of F = 44
    assert shapes["reduction_cell_0"] == (352, 14, 14)  # 4 x 88
    assert {shapes[f"cell_{i}"] for i in range(4, 8)} == {(528, 14, 14)}
    assert shapes["reduction_cell_1"] == (704, 7, 7)
    assert {shapes[f"cell_{i}"] for i in range(8, 12)} == {(1056, 7, 7)}  # "4 @ 1056"
    assert len(shapes) == 2 + 3 * 4 + 2


def test_large_cell_shapes_at_331_and_skip_reduction_input() -> None:
    with torch.device("meta"):
        large = cnnzoo.create_model("nasnet_a_large").eval()
        mobile = cnnzoo.create_model("nasnet_a_mobile").eval()
    shapes = cell_shapes(large, 331)
    assert shapes["cell_stem_0"] == (168, 83, 83)
    assert shapes["cell_stem_1"] == (336, 42, 42)
    assert shapes["cell_5"] == (1008, 42, 42)
    assert shapes["reduction_cell_0"] == (1344, 21, 21)
    assert shapes["reduction_cell_1"] == (2688, 11, 11)
    assert shapes["cell_17"] == (4032, 11, 11)  # "6 @ 4032"
    # skip_reduction_layer_input: the cell after a reduction reads the output from before the
    # reduction cell's input (cell_4 for cell_6), the Mobile one the reduction cell's input.
    offsets = {
        name: dict(zip(cell_names(m), m.prev_offsets, strict=True))
        for name, m in (("large", large), ("mobile", mobile))
    }
    assert offsets["large"]["cell_6"] == -3 and offsets["large"]["cell_7"] == -2
    assert offsets["mobile"]["cell_4"] == -2


# --- the reference networks -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["nasnet_a_mobile", "nasnet_a_large"])
def test_reference_params_macs_depth(name: str) -> None:
    row = REFERENCE[name]
    totals = profile(name, row.input_size, model_kwargs=row.kwargs).totals
    assert totals.params == pytest.approx(row.params, rel=row.params_tolerance)
    assert totals.macs_conv_linear == pytest.approx(row.macs, rel=row.macs_tolerance)
    assert totals.depth == row.depth
    assert totals.unknown_ops == ()


def test_cifar_network_is_a_ten_class_nasnet_a_6_at_768() -> None:
    with torch.device("meta"):
        model = cnnzoo.create_model("nasnet_cifar")
    assert model.num_classes == 10 and model.fc.out_features == 10
    params = sum(p.numel() for p in model.parameters())
    assert params == pytest.approx(3.3e6, rel=0.02)  # 3.3 M, Table 1 (printed to 0.1 M)


def test_specs() -> None:
    mobile, large = (cnnzoo.get_model_spec(n) for n in ("nasnet_a_mobile", "nasnet_a_large"))
    assert mobile.input_size == (3, 224, 224) and large.input_size == (3, 331, 331)
    assert mobile.family == large.family == "nasnet" and mobile.year == 2018
    assert mobile.torchvision_name is None and large.torchvision_name is None


def test_penultimate_filters_is_respected() -> None:
    with torch.device("meta"):
        model = cnnzoo.create_model("nasnet_a_mobile", num_cells=2, penultimate_filters=480)
    assert model.fc.in_features == 480
    assert model.forward_features(torch.empty(1, 3, 64, 64, device="meta")).shape[1] == 480
    assert model.cell_0.conv_1x1.conv.out_channels == 20  # F = 480 / 24
    assert model.cell_stem_0.conv_1x1.conv.out_channels == 5  # F / 4
    assert [n for n in cell_names(model) if n.startswith("cell_") and "stem" not in n] == [
        f"cell_{i}" for i in range(6)
    ]
    with pytest.raises(ValueError, match=r"penultimate_filters=1000 is not a multiple of 24"):
        cnnzoo.create_model("nasnet_a_mobile", penultimate_filters=1000)


def test_aux_head_in_training_mode_only() -> None:
    torch.manual_seed(0)
    model = cnnzoo.create_model("nasnet_a_mobile", aux_logits=True, num_classes=7)
    extra = sum(p.numel() for p in model.aux_head.parameters())
    # TF-slim's head on cell_7 (528 channels): 1x1 -> 128, BN, 4x4 conv -> 768, BN, FC.
    assert extra == 528 * 128 + 2 * 128 + 128 * 768 * 16 + 2 * 768 + 768 * 7 + 7
    out = model(torch.randn(2, 3, 32, 32))
    assert isinstance(out, AuxOutputs) and len(out.aux_logits) == 1
    assert out.logits.shape == out.aux_logits[0].shape == (2, 7)
    model.eval()
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_genotype_cifar_stem_runs_on_28x28(seed: int) -> None:
    torch.manual_seed(seed)
    genotype = random_genotype(random.Random(seed))
    model = small_net(genotype, in_chans=1, drop_path_prob=0.2, aux_logits=True)
    assert model.min_input_size == 1
    model.set_progress(1.0)
    out = model(torch.randn(2, 1, 28, 28))
    assert out.logits.shape == out.aux_logits[0].shape == (2, 10)
    (out.logits.sum() + out.aux_logits[0].sum()).backward()
    assert model.forward_features(torch.randn(1, 1, 28, 28)).shape[2:] == (7, 7)  # two halvings
    model.eval()
    assert model(torch.randn(1, 1, 28, 28)).shape == (1, 10)


def test_drop_path_schedule() -> None:
    model = small_net(NASNET_A, num_cells=2, drop_path_prob=0.4)
    drops = [cell.drop_path for cell in model.cells()]
    total = 3 * 2 + 2  # 3 stacks of N = 2 normal cells, 2 reduction cells (CIFAR: no stem cells)
    assert len(drops) == total
    # TF-slim v3: scaled by depth, (cell + 1) / total, and linearly by training progress.
    assert [d.drop_prob for d in drops] == pytest.approx([0.4 * (k + 1) / total for k in range(8)])
    assert all(d.current_prob == 0.0 for d in drops)
    model.set_progress(0.5)
    assert drops[-1].current_prob == pytest.approx(0.2)
    model.set_progress(3.0)  # past the end: clamped
    assert drops[-1].current_prob == pytest.approx(0.4)

    torch.manual_seed(0)
    drop = ScheduledDropPath(0.5)
    drop.set_progress(1.0)
    x = torch.ones(4000, 2, 1, 1)
    y = drop.train()(x)
    kept = y[:, 0, 0, 0] != 0
    assert 0.45 < kept.float().mean() < 0.55  # whole samples are dropped...
    assert torch.equal(y[kept], torch.full_like(y[kept], 2.0))  # ...the rest scaled by 1 / keep
    assert torch.equal(drop.eval()(x), x)


def test_drop_path_progress_does_not_recompile_a_compiled_network() -> None:
    compiles = []

    def backend(graph, _inputs):
        compiles.append(graph)
        return graph

    drop = ScheduledDropPath(0.3).train()
    compiled = torch.compile(drop, backend=backend)
    x = torch.randn(4, 2, 3, 3)
    for step in range(4):
        drop.set_progress(step / 4)
        compiled(x)
    assert len(compiles) == 1
    assert "progress" not in drop.state_dict()  # set by the engine, never checkpointed


def test_identity_branches_are_never_dropped() -> None:
    cell = nasnet.Cell(
        NASNET_A.normal,
        in_channels=8,
        prev_channels=8,
        prev_is_larger=False,
        filters=8,
        reduction=False,
        drop_prob=0.9,
    )
    assert [block.dropped for block in cell.blocks] == [
        (True, True),
        (True, True),
        (True, False),
        (True, True),
        (True, False),
    ]


def test_bad_options_are_value_errors() -> None:
    with pytest.raises(ValueError, match="stem must be one of"):
        NASNet(NASNET_A, stem="mnist")
    with pytest.raises(ValueError, match="drop_path_prob"):
        NASNet(NASNET_A, drop_path_prob=1.0)
    with pytest.raises(ValueError, match="leaves no filters"):
        NASNet(NASNET_A, penultimate_filters=72)  # F = 3: F / 4 = 0 for the first stem cell


@pytest.mark.parametrize("name", ["nasnet_cifar", "nasnet_a_mobile", "nasnet_a_large"])
def test_each_spec_states_the_options_its_builder_applies(name, monkeypatch):
    given = {}
    monkeypatch.setattr(nasnet, "NASNet", lambda **kwargs: given.update(kwargs))
    cnnzoo.registry.REGISTRY[name].builder()
    assert given.pop("genotype") is NASNET_A
    assert given == cnnzoo.registry.REGISTRY[name].defaults
