import torch
from torch import nn

import cnnzoo
from cnnzoo.models.vgg import CONFIGS


def stage_outputs(model: nn.Module, x: torch.Tensor) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape)))
        for m in model.features
        if isinstance(m, nn.MaxPool2d)
    ]
    model(x)
    for h in hooks:
        h.remove()
    return shapes


def test_vgg16_stage_shapes_at_224():
    with torch.device("meta"):
        model = cnnzoo.create_model("vgg16").eval()
        shapes = stage_outputs(model, torch.empty(1, 3, 224, 224))
    assert shapes == [
        (1, 64, 112, 112),
        (1, 128, 56, 56),
        (1, 256, 28, 28),
        (1, 512, 14, 14),
        (1, 512, 7, 7),
    ]


def test_weight_layer_counts_name_the_networks():
    # Table 1: configurations A, B, D, E have 11, 13, 16, 19 weight layers (3 of them FC).
    for config, depth in zip("ABDE", (11, 13, 16, 19), strict=True):
        convs = sum(1 for c in CONFIGS[config] if c != "M")
        assert convs + 3 == depth


def test_all_convolutions_are_3x3_stride_1_padding_1():
    with torch.device("meta"):
        model = cnnzoo.create_model("vgg19_bn")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 16
    assert all(
        c.kernel_size == (3, 3) and c.stride == (1, 1) and c.padding == (1, 1) for c in convs
    )
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 16


def test_pre_logits_are_the_fc7_code():
    torch.manual_seed(0)
    model = cnnzoo.create_model("vgg11", num_classes=7).eval()
    seen = []
    model.classifier[4].register_forward_hook(lambda _m, _i, out: seen.append(out.clone()))
    with torch.no_grad():
        features = model.forward_features(torch.randn(2, 3, 32, 32))
        pre_logits = model.forward_head(features, pre_logits=True)
    assert isinstance(model.classifier[4], nn.ReLU)
    assert model.num_features == 4096 and pre_logits.shape == (2, 4096)
    assert torch.equal(pre_logits, seen[0])  # Sec. 2.1: the second 4096-channel FC, after ReLU
