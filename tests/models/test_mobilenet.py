"""Family tests of the MobileNet v1 file: the width x resolution grid, Table 1, Table 4, options."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnnzoo
from cnnzoo.analysis import profile
from cnnzoo.models import mobilenet
from cnnzoo.models.layers import make_divisible
from cnnzoo.models.mobilenet import LAYERS, STEM_CHANNELS, DepthwiseSeparableConv
from cnnzoo.reference import load_table

GRID: list[dict] = load_table()["mobilenet_v1_grid"]


def on_meta(name: str, **kwargs) -> mobilenet.MobileNetV1:
    with torch.device("meta"):
        return cnnzoo.create_model(name, **kwargs).eval()


def test_grid_has_all_sixteen_rows() -> None:
    combos = {(row["width_mult"], row["resolution"]) for row in GRID}
    assert combos == {(a, r) for a in (1.0, 0.75, 0.5, 0.25) for r in (224, 192, 160, 128)}


@pytest.mark.parametrize("row", GRID, ids=lambda r: f"{r['width_mult']}@{r['resolution']}")
def test_width_and_resolution_grid(row: dict) -> None:
    """Params exact and conv+linear MACs within 2% for every (alpha, 224 * rho) of the grid."""
    res = row["resolution"]
    report = profile("mobilenet_v1", (3, res, res), model_kwargs={"width_mult": row["width_mult"]})
    assert report.totals.params == row["params"]
    assert report.totals.macs_conv_linear == pytest.approx(row["macs_conv_linear"], rel=0.02)
    assert report.totals.unknown_ops == ()


@pytest.mark.parametrize(
    ("name", "alpha"),
    [
        ("mobilenet_v1", 1.0),
        ("mobilenet_v1_075", 0.75),
        ("mobilenet_v1_050", 0.5),
        ("mobilenet_v1_025", 0.25),
    ],
)
def test_named_variants_are_the_width_multipliers(name: str, alpha: float) -> None:
    row = next(r for r in GRID if r["width_mult"] == alpha and r["resolution"] == 224)
    model = on_meta(name)
    assert sum(p.numel() for p in model.parameters()) == row["params"]
    spec = cnnzoo.get_model_spec(name)
    assert (spec.family, spec.year, spec.input_size, spec.torchvision_name) == (
        "mobilenet",
        2017,
        (3, 224, 224),
        None,
    )


def test_flop_counter_agrees_with_reference() -> None:
    for alpha, res in ((1.0, 224), (0.25, 128)):
        row = next(r for r in GRID if r["width_mult"] == alpha and r["resolution"] == res)
        model = on_meta("mobilenet_v1", width_mult=alpha)
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(1, 3, res, res, device="meta"))
        assert counter.get_total_flops() // 2 == row["macs_conv_linear"]


def test_table1_layer_list() -> None:
    """Table 1: conv 3x3/2 of 32, then 13 dw 3x3 + pw 1x1 pairs, avg pool, FC 1024 x 1000."""
    model = on_meta("mobilenet_v1")
    assert (model.conv_stem.kernel_size, model.conv_stem.stride) == ((3, 3), (2, 2))
    assert model.conv_stem.out_channels == 32
    layers = [m for m in model.modules() if isinstance(m, DepthwiseSeparableConv)]
    assert len(layers) == 13
    assert [(layer.conv_dw.stride[0], layer.conv_pw.out_channels) for layer in layers] == [
        (1, 64),
        (2, 128),
        (1, 128),
        (2, 256),
        (1, 256),
        (2, 512),
        (1, 512),
        (1, 512),
        (1, 512),
        (1, 512),
        (1, 512),
        (2, 1024),
        (1, 1024),
    ]
    for layer in layers:
        dw, pw = layer.conv_dw, layer.conv_pw
        assert dw.kernel_size == (3, 3) and dw.padding == (1, 1)
        assert dw.groups == dw.in_channels == dw.out_channels
        assert pw.kernel_size == (1, 1) and pw.stride == (1, 1) and pw.groups == 1
    # Sec. 3, Fig. 3: every convolution is followed by batch norm and ReLU; 1 + 2 * 13 of each.
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 27 and all(c.bias is None for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 27
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 27
    assert model.classifier.in_features == 1024 and model.classifier.out_features == 1000
    assert model.dropout.p == 0.0
    assert profile(model, (3, 224, 224)).totals.depth == 28  # 27 convolutions + FC


def test_stage_output_shapes_at_224() -> None:
    model = on_meta("mobilenet_v1")
    x = torch.empty(2, 3, 224, 224, device="meta")
    x = model.relu1(model.bn1(model.conv_stem(x)))
    shapes = [tuple(x.shape)]
    for stage in model.blocks:
        x = stage(x)
        shapes.append(tuple(x.shape))
    assert shapes == [
        (2, 32, 112, 112),  # Table 1: Conv / s2
        (2, 64, 112, 112),
        (2, 128, 56, 56),
        (2, 256, 28, 28),
        (2, 512, 14, 14),
        (2, 1024, 7, 7),  # into the 7x7 average pool
    ]
    features = model.forward_features(torch.empty(2, 3, 224, 224, device="meta"))
    assert tuple(features.shape) == (2, 1024, 7, 7)
    assert tuple(model.forward_head(features).shape) == (2, 1000)


@pytest.mark.parametrize("alpha", [0.75, 0.5, 0.25])
def test_width_multiplier_scales_every_layer(alpha: float) -> None:
    base, thin = on_meta("mobilenet_v1"), on_meta("mobilenet_v1", width_mult=alpha)
    convs = [(m.in_channels, m.out_channels) for m in base.modules() if isinstance(m, nn.Conv2d)]
    thin_convs = [
        (m.in_channels, m.out_channels) for m in thin.modules() if isinstance(m, nn.Conv2d)
    ]
    assert thin_convs[0] == (3, int(32 * alpha))
    assert thin_convs[1:] == [(int(i * alpha), int(o * alpha)) for i, o in convs[1:]]
    assert thin.classifier.in_features == int(1024 * alpha)
    # The paper's alphas give whole channel counts: int() and make_divisible agree on them.
    for channels in (STEM_CHANNELS, *(row.out_channels for row in LAYERS)):
        assert mobilenet.scale_channels(channels, alpha) == make_divisible(channels * alpha)


def test_resolution_multiplier_is_the_input_size() -> None:
    """rho changes no parameter; mult-adds scale by about rho^2 (Sec. 3.4)."""
    model = on_meta("mobilenet_v1")
    full = profile(model, (3, 224, 224)).totals
    small = profile(model, (3, 128, 128)).totals
    assert full.params == small.params
    assert small.macs_conv_linear / full.macs_conv_linear == pytest.approx((128 / 224) ** 2, 0.01)


def test_conv_mobilenet_matches_table4() -> None:
    """Table 4: Conv MobileNet has 29.3M parameters and 4866M mult-adds.

    The paper rounds to 0.1M parameters, so anything within half a unit (0.05M) matches; we get
    29,294,088. Our mult-adds are 4,867,293,184: 4866.27M in the convolutions plus 1.02M in the
    FC layer; the paper's 4866M is within 0.05%, so the check allows 0.1%.
    """
    model = on_meta("conv_mobilenet_v1")
    assert not any(isinstance(m, DepthwiseSeparableConv) for m in model.modules())
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 14 and all(c.kernel_size == (3, 3) and c.groups == 1 for c in convs)
    params = sum(p.numel() for p in model.parameters())
    assert params == 29_294_088
    assert params == pytest.approx(29.3e6, abs=0.05e6)
    macs = profile(model, (3, 224, 224)).totals.macs_conv_linear
    assert macs == 4_867_293_184
    assert macs == pytest.approx(4866e6, rel=1e-3)
    features = model.forward_features(torch.empty(1, 3, 224, 224, device="meta"))
    assert tuple(features.shape) == (1, 1024, 7, 7)


def test_depth_multiplier_widens_the_depthwise_convolutions() -> None:
    model = on_meta("mobilenet_v1", depth_multiplier=2)
    layer = model.blocks[1][0]  # 64 -> 128, stride 2
    assert layer.conv_dw.in_channels == 64 and layer.conv_dw.out_channels == 128
    assert layer.conv_dw.groups == 64  # each input channel gets its own 2 filters
    assert layer.bn1.num_features == 128
    assert layer.conv_pw.in_channels == 128 and layer.conv_pw.out_channels == 128
    # K = 2: the depthwise layer has 3x3 x M x K weights (Eq. 3 with a channel multiplier).
    base = on_meta("mobilenet_v1")
    pairs = [
        (m.conv_dw.in_channels, m.conv_pw.out_channels)
        for m in base.modules()
        if isinstance(m, DepthwiseSeparableConv)
    ]
    extra_dw = sum(9 * m for m, _ in pairs)  # one more 3x3 filter per input channel
    extra_bn = sum(2 * m for m, _ in pairs)  # its BN scale and shift
    extra_pw = sum(m * n for m, n in pairs)  # the pointwise conv sees M more inputs
    count = sum(p.numel() for p in model.parameters())
    assert count == sum(p.numel() for p in base.parameters()) + extra_dw + extra_bn + extra_pw
    assert model(torch.empty(1, 3, 64, 64, device="meta")).shape == (1, 1000)


@pytest.mark.parametrize(
    "kwargs",
    [{"width_mult": 0.0}, {"depth_multiplier": 0}, {"depth_multiplier": 1.5}],
)
def test_bad_options_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        cnnzoo.create_model("mobilenet_v1", **kwargs)


def test_conv_mobilenet_has_no_depthwise_multiplier() -> None:
    with pytest.raises(ValueError, match="depthwise"):
        cnnzoo.create_model("conv_mobilenet_v1", depth_multiplier=2)


def test_small_input_dropout_and_head_split() -> None:
    torch.manual_seed(0)
    model = cnnzoo.create_model("mobilenet_v1_025", num_classes=7, dropout=0.2).eval()
    assert model.min_input_size == 1
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        features = model.forward_features(x)
        assert tuple(features.shape) == (2, 256, 1, 1)
        assert torch.equal(model.forward_head(features), model(x))
