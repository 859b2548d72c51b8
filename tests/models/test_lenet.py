"""LeNet-5 (LeCun et al. 1998): the published network's structure, and the ReLU rendition."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.models import lenet
from cnnzoo.models.lenet import (
    DIGIT_BITMAPS,
    ConnectionTableConv2d,
    EuclideanRBF,
    Subsampling,
    lenet5,
    lenet5_original,
)

# Table I of the paper as printed: rows are the S2 maps 0-5, columns the C3 maps 0-15.
TABLE_I = (
    "X   XXX  XXXX XX",
    "XX   XXX  XXXX X",
    "XXX   XXX  X XXX",
    " XXX  XXXX  X XX",
    "  XXX  XXXX XX X",
    "   XXX  XXXX XXX",
)


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_original_has_exactly_60000_trainable_parameters() -> None:
    model = lenet5_original(num_classes=10, in_chans=1)
    assert trainable(model) == 60_000  # Sec. II-B
    c3 = model.features.c3
    assert trainable(c3) == 1516  # Sec. II-B: "Layer C3 has 1,516 trainable parameters"
    assert [tuple(b.conv.weight.shape) for b in c3.branches] == [
        (6, 3, 5, 5),
        (9, 4, 5, 5),
        (1, 6, 5, 5),
    ]
    assert trainable(model.features.s2) == 12 and trainable(model.features.s4) == 32


def test_rendition_parameters() -> None:
    model = lenet5(num_classes=10, in_chans=1)
    assert trainable(model) == 61_706
    assert isinstance(model.features.s2, nn.MaxPool2d) and isinstance(model.output, nn.Linear)


def test_c3_output_maps_read_the_s2_maps_of_table_i() -> None:
    torch.manual_seed(0)
    c3 = lenet5_original().features.c3
    x = torch.randn(1, 6, 14, 14, requires_grad=True)
    out = c3(x)
    assert out.shape == (1, 16, 10, 10)
    for j in range(16):
        (grad,) = torch.autograd.grad(out[:, j].sum(), x, retain_graph=True)
        used = {i for i in range(6) if grad[0, i].abs().sum() > 0}
        assert used == {i for i in range(6) if TABLE_I[i][j] == "X"}, f"C3 map {j}"


def test_c3_puts_branches_back_in_table_order() -> None:
    table = ((0, 1), (2,), (0, 1, 2), (1,))  # sizes out of order: needs a permutation
    c3 = ConnectionTableConv2d(table, 3)
    x = torch.randn(1, 3, 5, 5, requires_grad=True)
    out = c3(x)
    assert out.shape == (1, 4, 3, 3)
    for j, inputs in enumerate(table):
        (grad,) = torch.autograd.grad(out[:, j].sum(), x, retain_graph=True)
        assert {i for i in range(3) if grad[0, i].abs().sum() > 0} == set(inputs)


def test_rbf_prototypes_are_fixed_buffers() -> None:
    model = lenet5_original(num_classes=10, in_chans=1)
    rbf = model.output
    assert isinstance(rbf, EuclideanRBF)
    assert "output.prototypes" in dict(model.named_buffers())
    assert all("prototypes" not in name for name, _ in model.named_parameters())
    before = rbf.prototypes.clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = nn.functional.cross_entropy(model(torch.randn(4, 1, 32, 32)), torch.arange(4))
    loss.backward()
    optimizer.step()
    assert torch.equal(rbf.prototypes, before)
    assert rbf.prototypes.shape == (10, 84)
    assert set(rbf.prototypes.unique().tolist()) == {-1.0, 1.0}


def test_digit_bitmaps_are_7x12_and_distinct() -> None:
    assert len(DIGIT_BITMAPS) == 10
    for bitmap in DIGIT_BITMAPS:
        assert len(bitmap) == 12 and all(len(row) == 7 for row in bitmap)
        assert set("".join(bitmap)) <= {"#", "."}
    assert len({"".join(b) for b in DIGIT_BITMAPS}) == 10


def test_random_codes_for_other_class_counts_are_deterministic() -> None:
    a, b = (lenet5_original(num_classes=7, in_chans=1).output.prototypes for _ in range(2))
    assert a.shape == (7, 84) and torch.equal(a, b)
    assert set(a.unique().tolist()) == {-1.0, 1.0}


def test_reset_classifier_rebuilds_the_rbf_codes() -> None:
    model = lenet5_original(num_classes=10, in_chans=1)
    f6 = model.f6.weight.clone()
    model.reset_classifier(7)
    assert isinstance(model.output, EuclideanRBF) and model.num_classes == 7
    assert torch.equal(model.output.prototypes, lenet.rbf_prototypes(7))
    model.reset_classifier(10)  # back to the Fig. 3 digit bitmaps
    assert torch.equal(model.output.prototypes, lenet.rbf_prototypes(10))
    assert torch.equal(model.f6.weight, f6)
    x = torch.randn(2, 1, 32, 32)
    assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, 84)


def test_rbf_output_is_negative_squared_distance() -> None:
    rbf = EuclideanRBF(lenet.rbf_prototypes(10))
    x = rbf.prototypes[3:4].clone()
    out = rbf(x)
    assert out[0, 3] == 0 and out.argmax(1).item() == 3
    torch.testing.assert_close(out[0], -((rbf.prototypes - x) ** 2).sum(1))


def test_scaled_tanh_and_subsampling() -> None:
    act = lenet.ScaledTanh()
    # Appendix A: A and S are chosen so that f(1) = 1 and f(-1) = -1.
    torch.testing.assert_close(
        act(torch.tensor([1.0, -1.0])), torch.tensor([1.0, -1.0]), atol=1e-4, rtol=0
    )
    s2 = Subsampling(2)
    with torch.no_grad():
        s2.weight.copy_(torch.tensor([0.5, -2.0]))
        s2.bias.copy_(torch.tensor([0.1, 0.3]))
    x = torch.randn(1, 2, 4, 4)
    summed = x.unfold(2, 2, 2).unfold(3, 2, 2).sum((-1, -2))
    expected = act(
        summed * torch.tensor([0.5, -2.0])[:, None, None] + torch.tensor([0.1, 0.3])[:, None, None]
    )
    torch.testing.assert_close(s2(x), expected)


@pytest.mark.parametrize("builder", [lenet5, lenet5_original])
def test_stage_shapes(builder) -> None:
    model = builder(num_classes=10, in_chans=1)
    x = torch.randn(2, 1, 32, 32)
    sizes = {}
    for name, layer in model.features.named_children():
        x = layer(x)
        sizes[name] = tuple(x.shape[1:])
    assert sizes["c1"] == (6, 28, 28) and sizes["s2"] == (6, 14, 14)  # Fig. 2
    assert sizes["c3"] == (16, 10, 10) and sizes["s4"] == (16, 5, 5)
    assert sizes["c5"] == (120, 1, 1)


@pytest.mark.parametrize("builder", [lenet5, lenet5_original])
def test_input_sizes(builder) -> None:
    model = builder(num_classes=10, in_chans=1).eval()
    mnist = torch.randn(2, 1, 28, 28)
    padded = nn.functional.pad(mnist, (2, 2, 2, 2))
    torch.testing.assert_close(model(mnist), model(padded))  # 28x28 is zero-padded to 32x32
    with pytest.raises(ValueError, match=r"takes exactly 1x28x28 or 1x32x32"):
        model(torch.randn(2, 1, 30, 30))
    with pytest.raises(ValueError, match="input channel"):
        model(torch.randn(2, 3, 32, 32))


def test_original_init_is_within_the_paper_range() -> None:
    model = lenet5_original(num_classes=10, in_chans=1)
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            fan_in = m.weight[0].numel()
        elif isinstance(m, Subsampling):
            fan_in = 4
        else:
            continue
        bound = 2.4 / fan_in  # Appendix A
        assert m.weight.abs().max() <= bound and m.bias.abs().max() <= bound
