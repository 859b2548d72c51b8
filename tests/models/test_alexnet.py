"""AlexNet (Krizhevsky et al. 2012), its torchvision layout, and ZFNet (Zeiler & Fergus 2013)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from cnnzoo.models.alexnet import alexnet, alexnet_original, zfnet


def layer_shapes(model: nn.Module, size: int) -> dict[str, list[tuple[int, int]]]:
    """Output (channels, side) after each convolution and each max-pool, on the meta device."""
    x = torch.empty(1, 3, size, size, device="meta")
    shapes: dict[str, list[tuple[int, int]]] = {"conv": [], "pool": []}
    for layer in model.features:
        x = layer(x)
        assert x.shape[2] == x.shape[3]
        if isinstance(layer, nn.Conv2d):
            shapes["conv"].append((x.shape[1], x.shape[2]))
        elif isinstance(layer, nn.MaxPool2d):
            shapes["pool"].append((x.shape[1], x.shape[2]))
    return shapes


def layer_kinds(model: nn.Module) -> list[str]:
    names = {nn.Conv2d: "conv", nn.ReLU: "relu", nn.LocalResponseNorm: "lrn", nn.MaxPool2d: "pool"}
    return [names[type(m)] for m in model.features]


def meta(builder, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return builder(**kwargs)


def test_original_layer_shapes_at_227() -> None:
    shapes = layer_shapes(meta(alexnet_original), 227)
    # Fig. 2: 55 -> pool 27 -> 27 -> pool 13 -> 13 -> 13 -> 13 -> pool 6.
    assert shapes["conv"] == [(96, 55), (256, 27), (384, 13), (384, 13), (256, 13)]
    assert shapes["pool"] == [(96, 27), (256, 13), (256, 6)]


def test_original_two_gpu_split_and_lrn_placement() -> None:
    model = meta(alexnet_original)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]  # Sec. 3.2 / Fig. 2
    assert [tuple(c.weight.shape[1:]) for c in convs] == [
        (3, 11, 11),
        (48, 5, 5),
        (256, 3, 3),
        (192, 3, 3),
        (192, 3, 3),
    ]
    # Sec. 3.5: LRN after the ReLU of conv1 and conv2, max-pool after both LRNs and after conv5.
    assert layer_kinds(model) == (
        ["conv", "relu", "lrn", "pool"] * 2 + ["conv", "relu"] * 2 + ["conv", "relu", "pool"]
    )
    pool = model.features[3]
    assert (pool.kernel_size, pool.stride) == (3, 2)  # Sec. 3.4: overlapping pooling


def test_original_lrn_matches_the_paper_formula() -> None:
    lrn = meta(alexnet_original).features[2]  # no state: runs on CPU tensors
    a = torch.randn(1, 12, 3, 3) * 100
    # Sec. 3.3: b_i = a_i / (k + alpha * sum_{|j - i| <= n/2} a_j^2)^beta, k=2, n=5, alpha=1e-4.
    padded = nn.functional.pad(a.pow(2), (0, 0, 0, 0, 2, 2))
    window = torch.stack([padded[:, i : i + 5].sum(1) for i in range(12)], 1)
    torch.testing.assert_close(lrn(a), a / (2 + 1e-4 * window) ** 0.75)


def test_original_head_and_init() -> None:
    model = alexnet_original()
    kinds = [type(m).__name__ for m in model.classifier]
    # Sec. 4.2: dropout on the outputs of the first two fully connected layers.
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    # Sec. 5: biases 1 in conv2, 4, 5 and the hidden FC layers, 0 elsewhere; weights N(0, 0.01).
    assert [m.bias.unique().tolist() for m in layers] == [
        [0.0],
        [1.0],
        [0.0],
        [1.0],
        [1.0],
        [1.0],
        [1.0],
        [0.0],
    ]
    fc6 = model.classifier[0].weight
    assert abs(fc6.std().item() - 0.01) < 1e-4 and abs(fc6.mean().item()) < 1e-4
    assert model.min_input_size == 67


def test_original_forward_at_227_and_small_input() -> None:
    model = alexnet_original(num_classes=7).eval()
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 227, 227)).shape == (1, 256, 6, 6)
        assert model(torch.randn(2, 3, 67, 67)).shape == (2, 7)
    with pytest.raises(ValueError, match="too small"):
        model(torch.randn(1, 3, 66, 66))


@pytest.mark.parametrize("builder", [alexnet, alexnet_original, zfnet])
def test_pre_logits_are_the_fc7_code(builder) -> None:
    torch.manual_seed(0)
    model = builder(num_classes=7).eval()
    fc7_relu = [m for m in model.classifier if isinstance(m, nn.ReLU)][-1]
    seen = []
    fc7_relu.register_forward_hook(lambda _m, _i, out: seen.append(out.clone()))
    size = model.min_input_size
    with torch.no_grad():
        features = model.forward_features(torch.randn(2, 3, size, size))
        pre_logits = model.forward_head(features, pre_logits=True)
    assert model.num_features == 4096 and pre_logits.shape == (2, 4096)
    assert torch.equal(pre_logits, seen[0])  # Sec. 3.5: the output of FC7 after its ReLU


def test_torchvision_layout_keys() -> None:
    ours = meta(alexnet)
    with torch.device("meta"):
        theirs = torchvision.models.alexnet()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [type(m) for m in ours.classifier] == [type(m) for m in theirs.classifier]
    assert "lrn" not in layer_kinds(ours)
    assert ours.min_input_size == 63


def test_zfnet_layer_shapes_at_224() -> None:
    model = meta(zfnet)
    shapes = layer_shapes(model, 224)
    # Fig. 3: 110 -> pool 55 -> 26 -> pool 13 -> 13 -> 13 -> 13 -> pool 6.
    assert shapes["conv"] == [(96, 110), (256, 26), (384, 13), (384, 13), (256, 13)]
    assert shapes["pool"] == [(96, 55), (256, 13), (256, 6)]
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert all(c.groups == 1 for c in convs)  # one GPU: dense layers
    assert [(c.kernel_size[0], c.stride[0]) for c in convs[:2]] == [(7, 2), (5, 2)]
    # Fig. 3: ReLU, pooling, then contrast normalisation in layers 1 and 2.
    assert layer_kinds(model)[:8] == ["conv", "relu", "pool", "lrn"] * 2


def test_zfnet_init() -> None:
    model = zfnet()
    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert all(m.bias.abs().max() == 0 for m in layers)  # ZF Sec. 3: biases 0


def test_zfnet_wide() -> None:
    model = meta(zfnet, wide=True)
    shapes = layer_shapes(model, 224)
    # Table 3: layers 3, 4, 5 with 512, 1024, 512 maps; the spatial sizes do not change.
    assert shapes["conv"] == [(96, 110), (256, 26), (512, 13), (1024, 13), (512, 13)]
    assert model.classifier[0].in_features == 512 * 6 * 6
    assert model.min_input_size == meta(zfnet).min_input_size == 47


@pytest.mark.parametrize("kwargs", [{}, {"wide": True}])
def test_zfnet_min_input_size_is_exact(kwargs) -> None:
    model = meta(zfnet, **kwargs)
    size = model.min_input_size
    x = torch.empty(1, 3, size, size, device="meta")
    assert model.forward_head(model.forward_features(x)).shape == (1, 1000)
    with pytest.raises(RuntimeError):
        x = torch.empty(1, 3, size - 1, size - 1, device="meta")
        model.forward_head(model.forward_features(x))
