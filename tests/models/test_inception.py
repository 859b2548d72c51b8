"""Inception-v4 / Inception-ResNet: stage shapes at 299, block counts, stems of Figs. 3 and 14,
Table 1, residual scaling, the TF-slim and paper layouts, sizes against the reference."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.analysis import profile
from cnnzoo.models.inception import (
    RESNET_A_V1,
    RESNET_B_V2,
    RESNET_C_V2,
    InceptionNet,
    InceptionResNetBlock,
    MixedBlock,
    inception_resnet_v1,
    inception_resnet_v2,
    inception_v4,
)
from cnnzoo.reference import reference_models

REFERENCE = {row.name: row for row in reference_models()}

# (builder, kwargs) of every layout; ids for the parametrized tests.
LAYOUTS = {
    "v4": (inception_v4, {}),
    "resnet_v1": (inception_resnet_v1, {}),
    "resnet_v2": (inception_resnet_v2, {}),
    "resnet_v2_paper": (inception_resnet_v2, {"layout": "paper"}),
}

# (channels, side) after each top-level stage at 299 x 299.
STAGE_SHAPES = {
    "v4": {  # Fig. 9, Figs. 3-8
        "stem": (384, 35),
        "inception_a": (384, 35),
        "reduction_a": (1024, 17),
        "inception_b": (1024, 17),
        "reduction_b": (1536, 8),
        "inception_c": (1536, 8),
    },
    "resnet_v1": {  # Fig. 15, Figs. 10-14
        "stem": (256, 35),
        "inception_resnet_a": (256, 35),
        "reduction_a": (896, 17),
        "inception_resnet_b": (896, 17),
        "reduction_b": (1792, 8),
        "inception_resnet_c": (1792, 8),
    },
    "resnet_v2": {  # TF-slim (timm's inception_resnet_v2)
        "stem": (320, 35),
        "inception_resnet_a": (320, 35),
        "reduction_a": (1088, 17),
        "inception_resnet_b": (1088, 17),
        "reduction_b": (2080, 8),
        "inception_resnet_c": (2080, 8),
        "conv7b": (1536, 8),
    },
    "resnet_v2_paper": {  # Fig. 15 with Fig. 3 and Figs. 16-19
        "stem": (384, 35),
        "inception_resnet_a": (384, 35),
        "reduction_a": (1152, 17),
        "inception_resnet_b": (1152, 17),
        "reduction_b": (2144, 8),
        "inception_resnet_c": (2144, 8),
    },
}

BLOCK_COUNTS = {
    "v4": {"inception_a": 4, "inception_b": 7, "inception_c": 3},  # Fig. 9
    "resnet_v1": {"inception_resnet_a": 5, "inception_resnet_b": 10, "inception_resnet_c": 5},
    "resnet_v2": {"inception_resnet_a": 10, "inception_resnet_b": 20, "inception_resnet_c": 10},
    "resnet_v2_paper": {  # Fig. 15
        "inception_resnet_a": 5,
        "inception_resnet_b": 10,
        "inception_resnet_c": 5,
    },
}

# Fig. 3 (Inception-v4 stem) and Fig. 14 (Inception-ResNet-v1 stem) at 299: layer -> (C, side).
STEM_SHAPES = {
    "v4": {
        "conv1a": (32, 149),
        "conv2a": (32, 147),
        "conv2b": (64, 147),
        "mixed3a": (160, 73),
        "mixed4a": (192, 71),
        "mixed5a": (384, 35),
    },
    "resnet_v1": {
        "conv1a": (32, 149),
        "conv2a": (32, 147),
        "conv2b": (64, 147),
        "maxpool3a": (64, 73),
        "conv3b": (80, 73),
        "conv4a": (192, 71),
        "conv4b": (256, 35),
    },
}

# Fig. 14, layer by layer: (out channels, kernel, stride, valid padding) or "max-pool 3x3/2 V".
FIG14 = {
    "conv1a": (32, 3, 2, True),
    "conv2a": (32, 3, 1, True),
    "conv2b": (64, 3, 1, False),
    "maxpool3a": "max-pool 3x3/2 V",
    "conv3b": (80, 1, 1, True),  # a 1x1: valid and same agree
    "conv4a": (192, 3, 1, True),
    "conv4b": (256, 3, 2, True),
}

# Table 1: k, l, m, n of Reduction-A.
TABLE1 = {
    "v4": (192, 224, 256, 384),
    "resnet_v1": (192, 192, 256, 384),
    "resnet_v2": (256, 256, 384, 384),
    "resnet_v2_paper": (256, 256, 384, 384),
}


def build(layout: str, device: str = "meta", **kwargs) -> InceptionNet:
    builder, options = LAYOUTS[layout]
    with torch.device(device):
        return builder(**options, **kwargs)


def output_shapes(model: nn.Module, names: list[str], size: int = 299) -> dict:
    """(C, side) of the named submodules' outputs for one meta input of ``size``."""
    shapes = {}
    handles = [
        model.get_submodule(name).register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:3]))
        )
        for name in names
    ]
    with torch.no_grad():
        model.eval()(torch.empty(1, 3, size, size, device="meta"))
    for handle in handles:
        handle.remove()
    return shapes


@pytest.mark.parametrize("layout", LAYOUTS)
def test_stage_shapes_at_299(layout):
    model = build(layout)
    assert model.trunk == tuple(STAGE_SHAPES[layout])
    assert output_shapes(model, list(STAGE_SHAPES[layout])) == STAGE_SHAPES[layout]
    feats = model.forward_features(torch.empty(2, 3, 299, 299, device="meta"))
    final_channels = list(STAGE_SHAPES[layout].values())[-1][0]
    assert tuple(feats.shape) == (2, final_channels, 8, 8)
    assert model.fc.in_features == model.num_features == final_channels


@pytest.mark.parametrize("layout", ["v4", "resnet_v1"])
def test_stem_shapes_follow_figs_3_and_14(layout):
    model = build(layout)
    names = [f"stem.{name}" for name in STEM_SHAPES[layout]]
    shapes = output_shapes(model, names)
    assert shapes == {f"stem.{n}": s for n, s in STEM_SHAPES[layout].items()}


def test_resnet_v1_stem_is_fig_14():
    stem = build("resnet_v1").stem
    assert [name for name, _ in stem.named_children()] == list(FIG14)
    for name, expected in FIG14.items():
        layer = getattr(stem, name)
        if isinstance(expected, str):
            assert isinstance(layer, nn.MaxPool2d)
            assert (layer.kernel_size, layer.stride, layer.padding) == (3, 2, 0)
            continue
        out, kernel, stride, valid = expected
        conv = layer.conv
        assert conv.out_channels == out, name
        assert conv.kernel_size == (kernel, kernel), name
        assert conv.stride == (stride, stride), name
        assert conv.padding == ((0, 0) if valid else (kernel // 2, kernel // 2)), name


@pytest.mark.parametrize("layout", LAYOUTS)
def test_block_counts(layout):
    model = build(layout)
    for name, count in BLOCK_COUNTS[layout].items():
        blocks = getattr(model, name)
        assert len(blocks) == count, name
        kind = InceptionResNetBlock if layout != "v4" else MixedBlock
        assert all(type(block) is kind for block in blocks), name
    assert len(model.reduction_a) == len(model.reduction_b) == 1


@pytest.mark.parametrize("layout", LAYOUTS)
def test_reduction_a_follows_table1(layout):
    k, l, m, n = TABLE1[layout]  # noqa: E741 (the paper's names)
    block = build(layout).reduction_a[0]
    assert block.branch0.conv.out_channels == n
    assert [layer.conv.out_channels for layer in block.branch1] == [k, l, m]
    assert block.branch0.conv.stride == block.branch1[2].conv.stride == (2, 2)
    assert isinstance(block.branch2, nn.MaxPool2d)


def test_inception_c_forks_fig_6():
    block = build("v4").inception_c[0]
    fork = block.branch1[1]  # 1x1 384, then 1x3 and 3x1 side by side
    assert [fork.branch0.conv.kernel_size, fork.branch1.conv.kernel_size] == [(1, 3), (3, 1)]
    widths = [block.branch2[i].conv.out_channels for i in range(3)]
    assert widths == [384, 448, 512]
    x = torch.empty(1, 1536, 8, 8, device="meta")
    assert block(x).shape == (1, 1536, 8, 8)


@pytest.mark.parametrize(
    ("layout", "widths"),
    [  # (concatenated branches, "1x1 Conv (Linear)" output) of blocks A, B, C
        ("resnet_v1", ((96, 256), (256, 896), (384, 1792))),  # Figs. 10, 11, 13
        ("resnet_v2_paper", ((128, 384), (384, 1152), (448, 2144))),  # Figs. 16, 17, 19 (doc)
        ("resnet_v2", ((128, 320), (384, 1088), (448, 2080))),  # TF-slim
    ],
)
def test_residual_linear_convolutions(layout, widths):
    model = build(layout)
    stages = ("inception_resnet_a", "inception_resnet_b", "inception_resnet_c")
    for stage, in_out in zip(stages, widths, strict=True):
        for block in getattr(model, stage):
            assert (block.conv.in_channels, block.conv.out_channels) == in_out, stage
            assert block.conv.kernel_size == (1, 1) and block.conv.bias is not None


def test_batch_norm_after_every_convolution_but_the_linear_ones():
    for layout in LAYOUTS:
        model = build(layout)
        linear = {id(m.conv) for m in model.modules() if isinstance(m, InceptionResNetBlock)}
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and id(m) not in linear]
        norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        assert len(convs) == len(norms)
        assert all(c.bias is None for c in convs)
        assert all(bn.eps == 0.001 for bn in norms)
        assert model.dropout.p == 0.2  # Figs. 9 and 15: keep 0.8


def test_default_residual_scales():
    model = build("resnet_v2")
    assert {b.scale for b in model.inception_resnet_a} == {0.17}
    assert {b.scale for b in model.inception_resnet_b} == {0.10}
    assert {b.scale for b in model.inception_resnet_c[:-1]} == {0.20}
    last = model.inception_resnet_c[-1]  # TF-slim's final block: scale 1, no ReLU
    assert last.scale == 1.0 and isinstance(last.relu, nn.Identity)
    paper = build("resnet_v2_paper")
    assert all(isinstance(b.relu, nn.ReLU) for b in paper.inception_resnet_c)


def test_residual_scale_argument():
    model = build("resnet_v1", residual_scale=0.3)
    scales = {b.scale for name in BLOCK_COUNTS["resnet_v1"] for b in getattr(model, name)}
    assert scales == {0.3}
    model = build("resnet_v2_paper", residual_scale=(0.1, 0.2, 0.3))
    firsts = [getattr(model, name)[0] for name in BLOCK_COUNTS["resnet_v2_paper"]]
    assert [block.scale for block in firsts] == [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match="one per residual stage"):
        build("resnet_v1", residual_scale=(0.1, 0.2))
    with pytest.raises(ValueError, match="no residual"):
        build("v4", residual_scale=0.1)
    with pytest.raises(ValueError, match="layout"):
        inception_resnet_v2(layout="v3")


@pytest.mark.parametrize(
    ("spec", "channels"), [(RESNET_A_V1, 256), (RESNET_B_V2, 1088), (RESNET_C_V2, 2080)]
)
def test_residual_scale_is_applied(spec, channels):
    torch.manual_seed(0)
    block = InceptionResNetBlock(spec, channels, scale=0.0).eval()
    x = torch.randn(2, channels, 5, 5)
    with torch.no_grad():
        assert torch.equal(block(x), torch.relu(x))  # scale 0: identity up to the ReLU
        residual = block.conv(block.branches(x))
        block.scale = 0.5
        torch.testing.assert_close(block(x), torch.relu(x + 0.5 * residual))
        linear = InceptionResNetBlock(spec, channels, scale=1.0, activation=False).eval()
        torch.testing.assert_close(linear(x), x + linear.conv(linear.branches(x)))


@pytest.mark.parametrize("name", ["inception_v4", "inception_resnet_v2"])
def test_size_matches_reference(name):
    row = REFERENCE[name]
    totals = profile(name, (3, 299, 299)).totals
    assert totals.params == pytest.approx(row.params, rel=row.params_tolerance)
    assert totals.macs_conv_linear == pytest.approx(row.macs, rel=row.macs_tolerance)
    assert totals.depth == row.depth
    assert totals.unknown_op_count == 0


@pytest.mark.parametrize(
    ("layout", "params", "macs", "depth"),
    [
        ("resnet_v1", 22_756_328, 6_206_361_696, 93),  # measured; no published count
        ("resnet_v2_paper", 32_433_928, 9_257_953_632, 96),  # measured; no published count
    ],
)
def test_size_of_layouts_without_reference(layout, params, macs, depth):
    totals = profile(build(layout), (3, 299, 299)).totals
    assert (totals.params, totals.macs_conv_linear, totals.depth) == (params, macs, depth)


def test_resnet_v1_costs_about_inception_v3():
    """Sec. 3.2: Inception-ResNet-v1 has roughly the computational cost of Inception-v3."""
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        v3 = torchvision.models.inception_v3(init_weights=False, aux_logits=False)
    ratio = (
        profile(build("resnet_v1"), (3, 299, 299)).totals.macs_conv_linear
        / profile(v3, (3, 299, 299)).totals.macs_conv_linear
    )
    assert 0.9 < ratio < 1.2  # 6.21 G against 5.71 G


@pytest.mark.parametrize("layout", LAYOUTS)
def test_min_input_size_is_exact(layout):
    model = build(layout).eval()
    assert model.min_input_size == 75
    assert model(torch.empty(1, 3, 75, 75, device="meta")).shape == (1, 1000)
    x = torch.empty(1, 3, 74, 74, device="meta")
    with pytest.raises(ValueError, match="smallest input"):
        model(x)
    with pytest.raises(RuntimeError):
        model.forward_head(model.forward_features(x))


def test_paper_layout_small_input_backward():
    torch.manual_seed(0)
    model = build("resnet_v2_paper", device="cpu", num_classes=7, in_chans=1).train()
    out = model(torch.randn(2, 1, 75, 75))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
