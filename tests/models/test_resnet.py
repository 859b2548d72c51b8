"""Family tests of the ResNet file: stage shapes, stride placement, shortcuts, unit ordering."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.models import resnet
from cnnzoo.models.resnet import ResidualUnit, ZeroPadShortcut


def on_meta(builder, **kwargs) -> resnet.ResNet:
    with torch.device("meta"):
        return builder(**kwargs)


def stage_shapes(model: resnet.ResNet, size: int, batch: int = 2) -> dict[str, tuple[int, ...]]:
    device = next(model.parameters()).device
    x = torch.empty(batch, model.in_chans, size, size, device=device)
    if device.type != "meta":
        x.normal_()
    shapes = {}
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    shapes["stem"] = tuple(x.shape)
    for index in range(1, model.num_stages + 1):
        x = getattr(model, f"layer{index}")(x)
        shapes[f"layer{index}"] = tuple(x.shape)
    return shapes


def units(model: nn.Module) -> list[ResidualUnit]:
    return [m for m in model.modules() if isinstance(m, ResidualUnit)]


def test_resnet50_stage_shapes_at_224() -> None:
    model = on_meta(resnet.resnet50).eval()
    assert stage_shapes(model, 224) == {  # Table 1, output sizes of conv1 .. conv5_x
        "stem": (2, 64, 56, 56),
        "layer1": (2, 256, 56, 56),
        "layer2": (2, 512, 28, 28),
        "layer3": (2, 1024, 14, 14),
        "layer4": (2, 2048, 7, 7),
    }
    features = model.forward_features(torch.empty(2, 3, 224, 224, device="meta"))
    assert tuple(features.shape) == (2, 2048, 7, 7)


def test_resnet18_stage_shapes_at_224() -> None:
    model = on_meta(resnet.resnet18).eval()
    shapes = stage_shapes(model, 224)
    assert [shapes[f"layer{i}"][1:] for i in range(1, 5)] == [
        (64, 56, 56),
        (128, 28, 28),
        (256, 14, 14),
        (512, 7, 7),
    ]


@pytest.mark.parametrize("builder", [resnet.resnet20, resnet.resnet110])
def test_cifar_resnet_stage_shapes(builder) -> None:
    model = on_meta(builder).eval()
    assert model.num_classes == 10
    assert stage_shapes(model, 32) == {  # Sec. 4.2: maps of 32, 16, 8 with 16, 32, 64 filters
        "stem": (2, 16, 32, 32),
        "layer1": (2, 16, 32, 32),
        "layer2": (2, 32, 16, 16),
        "layer3": (2, 64, 8, 8),
    }
    depth = int(builder.__name__.removeprefix("resnet"))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) + 1 == depth  # 6n + 2 weighted layers: convolutions plus the fc
    assert not hasattr(model, "layer4")


# WRN Sec. 3: the parameters the paper gives, in millions (one decimal).
WIDE_PARAMS_M = {"wrn16_4": 2.7, "wrn16_8": 11.0, "wrn28_10": 36.5, "wrn40_4": 8.9}


@pytest.mark.parametrize("name", sorted(WIDE_PARAMS_M))
def test_wide_resnet_layout_depth_and_parameters(name: str) -> None:
    model = on_meta(getattr(resnet, name)).eval()
    depth, k = (int(part) for part in name.removeprefix("wrn").split("_"))
    assert model.num_classes == 10
    assert stage_shapes(model, 32) == {  # WRN Table 1: 16k, 32k, 64k filters on 32, 16, 8
        "stem": (2, 16, 32, 32),
        "layer1": (2, 16 * k, 32, 32),
        "layer2": (2, 32 * k, 16, 16),
        "layer3": (2, 64 * k, 8, 8),
    }
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == depth  # d = 6N + 4 counts conv1, the units and the three projections
    params = sum(p.numel() for p in model.parameters())
    assert round(params / 1e6, 1) == WIDE_PARAMS_M[name]


def test_wide_resnet_units_preactivate_and_project_without_bn() -> None:
    model = resnet.wrn16_4()
    shortcuts = [u.downsample for u in units(model) if u.downsample is not None]
    assert all(u.preact for u in units(model)) and hasattr(model, "final_bn")
    # the first unit of each group changes the width (16 -> 64, 64 -> 128, 128 -> 256)
    assert [type(s) for s in shortcuts] == [nn.Conv2d] * 3
    assert [s.stride for s in shortcuts] == [(1, 1), (2, 2), (2, 2)]
    unit = model.layer2[0].eval()
    x = torch.randn(2, 64, 9, 9)  # layer1's last addition; both paths see it after BN-ReLU
    with torch.no_grad():
        branch = unit.conv2(torch.relu(unit.bn2(unit.conv1(torch.relu(unit.bn1(x))))))
        assert torch.allclose(unit(x), branch + unit.downsample(torch.relu(unit.bn1(x))))


@pytest.mark.parametrize("depth", [15, 4, 0])
def test_wide_stages_need_a_depth_of_6n_plus_4(depth: int) -> None:
    with pytest.raises(ValueError, match="6N \\+ 4"):
        resnet.wide_stages(depth, 2)


def test_v1_and_v1_5_stride_placement() -> None:
    v15 = on_meta(resnet.resnet50)
    v1 = on_meta(resnet.resnet50, stride_in_1x1=True)
    for layer in ("layer2", "layer3", "layer4"):
        first15, first1 = getattr(v15, layer)[0], getattr(v1, layer)[0]
        assert first15.conv1.stride == (1, 1) and first15.conv2.stride == (2, 2)
        assert first1.conv1.stride == (2, 2) and first1.conv2.stride == (1, 1)
        assert first15.downsample[0].stride == first1.downsample[0].stride == (2, 2)
    # only the stem and the first unit of layer2..4 have strides, in either placement
    for model, strided_conv in ((v15, "conv2"), (v1, "conv1")):
        strided = {
            n for n, m in model.named_modules() if getattr(m, "stride", 1) not in (1, (1, 1))
        }
        expected = {"conv1", "maxpool"} | {
            f"layer{i}.0.{c}" for i in (2, 3, 4) for c in (strided_conv, "downsample.0")
        }
        assert strided == expected
    assert [p.shape for p in v15.parameters()] == [p.shape for p in v1.parameters()]
    assert sum(p.numel() for p in v1.parameters()) == 25_557_032  # same as v1.5 (torchvision)
    assert stage_shapes(v1, 224) == stage_shapes(v15, 224)


def test_stride_in_1x1_changes_nothing_in_basic_units() -> None:
    a, b = on_meta(resnet.resnet18), on_meta(resnet.resnet18, stride_in_1x1=True)
    strides = [[m.stride for m in model.modules() if isinstance(m, nn.Conv2d)] for model in (a, b)]
    assert strides[0] == strides[1]


@pytest.mark.parametrize(("plain", "residual"), [("plain18", "resnet18"), ("plain34", "resnet34")])
def test_plain_nets_have_no_shortcuts(plain: str, residual: str) -> None:
    model = on_meta(getattr(resnet, plain))
    assert not any("downsample" in name for name, _ in model.named_modules())
    assert all(not u.residual and u.downsample is None for u in units(model))
    # the same layers as the residual network, minus the projection shortcuts
    keys = [k for k in on_meta(getattr(resnet, residual)).state_dict() if "downsample" not in k]
    assert list(model.state_dict()) == keys


def test_plain_unit_does_not_add_its_input() -> None:
    torch.manual_seed(0)
    unit = ResidualUnit(resnet.BASIC, 8, 8, shortcut="none").eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        expected = torch.relu(unit.bn2(unit.conv2(torch.relu(unit.bn1(unit.conv1(x))))))
        assert torch.equal(unit(x), expected)


def test_option_a_shortcut_pads_channels_without_parameters() -> None:
    shortcut = ZeroPadShortcut(16, 32, stride=2)
    assert sum(p.numel() for p in shortcut.parameters()) == 0
    assert not list(shortcut.buffers())
    x = torch.randn(2, 16, 7, 7)
    y = shortcut(x)
    assert y.shape == (2, 32, 4, 4)  # same as a 3x3/2 convolution with padding 1 on 7x7
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 16:]) == 0


def test_cifar_resnets_use_parameter_free_shortcuts() -> None:
    model = resnet.resnet20()
    pads = [u.downsample for u in units(model) if u.downsample is not None]
    assert len(pads) == 2  # the first units of the 32- and 16-filter stages
    assert all(isinstance(p, ZeroPadShortcut) for p in pads)
    assert not any("downsample" in k for k in model.state_dict())
    x = torch.randn(2, 3, 9, 9)  # odd sizes: the padded identity still matches the branch
    assert model(x).shape == (2, 10)


def test_option_c_projects_every_shortcut() -> None:
    model = on_meta(resnet.resnet18, shortcut="C")
    assert all(isinstance(u.downsample, nn.Sequential) for u in units(model))


def test_preact_unit_ordering() -> None:
    model = on_meta(resnet.preact_resnet50)
    for unit in units(model):
        assert unit.preact
        for i in range(1, 4):  # BN-ReLU before each convolution: the BN sees the conv's input
            bn = getattr(unit, f"bn{i}", None)
            if bn is not None:
                assert bn.num_features == getattr(unit, f"conv{i}").in_channels
    first = model.layer1[0]
    assert not hasattr(first, "bn1")  # shares the stem's activation (He et al. 2016b)
    assert all(hasattr(u, "bn1") for u in units(model)[1:])
    assert model.final_bn.num_features == 2048
    post = on_meta(resnet.resnet50)
    for unit in units(post):  # the original unit: BN after each convolution
        for i in range(1, 4):
            conv, bn = getattr(unit, f"conv{i}"), getattr(unit, f"bn{i}")
            assert bn.num_features == conv.out_channels


def test_preact_unit_computes_bn_relu_conv_and_clean_addition() -> None:
    torch.manual_seed(0)
    unit = ResidualUnit(resnet.BASIC, 8, 8, preact=True).eval()
    for bn in (unit.bn1, unit.bn2):
        nn.init.uniform_(bn.weight, 0.5, 1.5)
        nn.init.uniform_(bn.bias, -0.5, 0.5)
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        branch = unit.conv2(torch.relu(unit.bn2(unit.conv1(torch.relu(unit.bn1(x))))))
        assert torch.allclose(unit(x), x + branch)  # no activation after the addition


def test_preact_projection_takes_activated_input() -> None:
    torch.manual_seed(0)
    unit = ResidualUnit(resnet.BASIC, 4, 8, stride=2, preact=True).eval()
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        act = torch.relu(unit.bn1(x))
        branch = unit.conv2(torch.relu(unit.bn2(unit.conv1(act))))
        assert torch.allclose(unit(x), unit.downsample(act) + branch)


def test_preact_network_ends_with_bn_relu() -> None:
    model = resnet.preact_resnet18().eval()
    features = model.forward_features(torch.randn(2, 3, 64, 64))
    assert features.shape == (2, 512, 2, 2)
    assert features.min() >= 0


@pytest.mark.parametrize(
    ("builder", "cardinality", "base_width"),
    [
        (resnet.resnext50_32x4d, 32, 4),
        (resnet.resnext101_32x4d, 32, 4),
        (resnet.resnext101_32x8d, 32, 8),
        (resnet.resnext101_64x4d, 64, 4),
        (resnet.wide_resnet50_2, 1, 128),
    ],
)
def test_grouped_bottleneck_width(builder, cardinality: int, base_width: int) -> None:
    model = on_meta(builder)
    for index, planes in enumerate(resnet.IMAGENET_PLANES, start=1):
        width = base_width * cardinality * planes // 64  # ResNeXt Table 1: C x d per stage
        for unit in getattr(model, f"layer{index}"):
            assert unit.conv2.groups == cardinality
            assert unit.conv2.in_channels == unit.conv2.out_channels == width
            assert unit.conv1.groups == unit.conv3.groups == 1
            assert unit.conv3.out_channels == 4 * planes  # the output keeps ResNet's width


def test_resnext_50_block_counts_are_table_1() -> None:
    model = on_meta(resnet.resnext50_32x4d)
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]


def test_zero_init_residual() -> None:
    post = resnet.resnet50(zero_init_residual=True)
    assert all(torch.count_nonzero(u.bn3.weight) == 0 for u in units(post))
    model = resnet.resnet18(zero_init_residual=True)
    assert all(torch.count_nonzero(u.bn2.weight) == 0 for u in units(model))
    assert all(torch.count_nonzero(u.bn1.weight) > 0 for u in units(model))
    pre = resnet.preact_resnet18(zero_init_residual=True)
    assert all(torch.count_nonzero(u.conv2.weight) == 0 for u in units(pre))
    with pytest.raises(ValueError, match="residual"):
        resnet.plain18(zero_init_residual=True)


def test_bad_options_raise() -> None:
    with pytest.raises(ValueError, match="shortcut"):
        resnet.resnet18(shortcut="D")
    with pytest.raises(ValueError, match="bottleneck"):
        resnet.resnet18(cardinality=32)


def test_specs() -> None:
    specs = {spec.name: spec for spec in resnet.MODELS}
    assert specs["resnext101_32x4d"].torchvision_name is None  # timm only
    assert specs["wide_resnet101_2"].torchvision_name == "wide_resnet101_2"
    assert specs["plain18"].torchvision_name is None
    assert all(specs[f"resnet{d}"].input_size == (3, 32, 32) for d in resnet.CIFAR_DEPTHS)
    assert all(specs[f"resnet{d}"].input_size == (3, 224, 224) for d in resnet.IMAGENET_DEPTHS)
