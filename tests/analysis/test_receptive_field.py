"""Receptive fields against hand computation (Araujo et al. 2019 recurrences)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import cnnzoo
from cnnzoo.analysis import FieldDim, ReceptiveField, profile


def field_of(module: nn.Module, input_size=(1, 16, 16), row: str | None = None):
    """The receptive field of row ``row`` (default: the last row)."""
    report = profile(module, input_size)
    rows = {r.name: r for r in report.rows}
    return (rows[row] if row else report.rows[-1]).receptive_field


def square(size: int, jump: int, start: float, is_global: bool = False) -> ReceptiveField:
    return ReceptiveField(FieldDim(size, jump, start), FieldDim(size, jump, start), is_global)


def conv3(padding: int = 1, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(1, 1, 3, stride=stride, padding=padding)


def test_three_stacked_3x3_convolutions_see_7():
    assert field_of(nn.Sequential(conv3(), conv3(), conv3())) == square(7, 1, 0.5)
    # without padding the first output pixel's field is centred on input pixel 3
    assert field_of(nn.Sequential(conv3(0), conv3(0), conv3(0))) == square(7, 1, 3.5)


def test_int_kernel_pool_is_a_2x2_window():
    assert field_of(nn.MaxPool2d(2)) == square(2, 2, 1.0)


def test_dilation_and_stride():
    assert field_of(nn.Conv2d(1, 1, 3, dilation=2)) == square(5, 1, 2.5)
    # 3x3/2 then 3x3: the second layer's steps are 2 input pixels
    assert field_of(nn.Sequential(conv3(stride=2), conv3())) == square(7, 2, 0.5)


def test_asymmetric_kernel():
    rf = field_of(nn.Conv2d(1, 1, (1, 7), padding=(0, 3)))
    assert rf == ReceptiveField(FieldDim(1, 1, 0.5), FieldDim(7, 1, 0.5))


def test_vgg16_conv5_3_sees_196_and_pool5_212():
    report = profile("vgg16")
    rows = {r.name: r for r in report.rows}
    assert rows["features.28"].type == "Conv2d"  # conv5_3 (Table 1, column D)
    assert rows["features.28"].receptive_field == square(196, 16, 8.0)
    assert rows["features.29"].receptive_field == square(196, 16, 8.0)
    assert rows["features.30"].receptive_field == square(212, 32, 16.0)
    assert report.final_receptive_field.h.size == 212


class TwoBranches(nn.Module):
    """Branch outputs combined by concatenation or by addition."""

    def __init__(self, a: nn.Module, b: nn.Module, combine: str) -> None:
        super().__init__()
        self.a, self.b, self.combine = a, b, combine

    def forward(self, x):
        if self.combine == "cat":
            return torch.cat([self.a(x), self.b(x)], 1)
        return self.a(x) + self.b(x)


def test_concatenated_branches_take_the_larger_field():
    block = TwoBranches(conv3(), nn.Conv2d(1, 1, 5, padding=2), "cat")
    assert field_of(block) == square(5, 1, 0.5)
    assert profile(block, (1, 16, 16)).rows[-1].name == "cat#0"


def test_added_branches_take_the_larger_field():
    block = TwoBranches(nn.Conv2d(1, 1, 1), nn.Sequential(conv3(), conv3()), "add")
    assert field_of(block) == square(5, 1, 0.5)


class Residual(nn.Module):
    """A basic residual block (He et al. 2016, Fig. 2), with an optional 1x1/2 projection."""

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3(stride=stride)
        self.conv2 = conv3()
        self.relu = nn.ReLU()
        self.shortcut = nn.Conv2d(1, 1, 1, stride=stride) if stride > 1 else nn.Identity()

    def forward(self, x):
        return self.relu(self.conv2(self.relu(self.conv1(x))) + self.shortcut(x))


def test_residual_block():
    assert field_of(Residual()) == square(5, 1, 0.5)
    # 3x3/2: 3, jump 2; 3x3: 3 + 2 * 2 = 7; the 1x1/2 shortcut (1) is inside it
    assert field_of(Residual(stride=2)) == square(7, 2, 0.5)
    assert field_of(nn.Sequential(Residual(), Residual())) == square(9, 1, 0.5)


def test_block_rows_keep_the_field_before_in_place_addition():
    class InPlace(Residual):
        def forward(self, x):
            out = self.conv2(self.conv1(x))
            out += self.shortcut(x)  # aten.add_ changes `out` after conv2's row is written
            return out

    report = profile(InPlace(), (1, 16, 16))
    rows = {r.name: r for r in report.rows}
    assert rows["conv2"].receptive_field == square(5, 1, 0.5)
    assert rows["add#0"].type == "functional:add"
    assert rows["add#0"].allocated_bytes == 0  # in place


def test_pad_then_slice_shifts_the_start():
    class Shifted(nn.Module):  # NASNet's second path of a factorised reduction
        def __init__(self):
            super().__init__()
            self.pool = nn.AvgPool2d(1, stride=2)

        def forward(self, x):
            return self.pool(F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:])

    assert field_of(Shifted()) == square(1, 2, 1.5)


def test_left_padding_moves_the_start_back():
    class Padded(nn.Module):
        def forward(self, x):
            return F.pad(x, (2, 0, 1, 0))

    assert field_of(Padded()) == ReceptiveField(FieldDim(1, 1, -0.5), FieldDim(1, 1, -1.5))


def test_global_pooling_and_flatten_are_global():
    # 3x3 field on an 8 x 8 map: together the fields span 3 + 7 = 10 pixels
    expected = square(10, 8, 4.0, is_global=True)
    pooled = nn.Sequential(conv3(), nn.AdaptiveAvgPool2d(1))
    assert field_of(pooled, (1, 8, 8)) == expected
    flat = nn.Sequential(conv3(), nn.Flatten(), nn.Linear(64, 3))
    assert field_of(flat, (1, 8, 8)) == expected


def test_adaptive_pool_that_divides_is_a_window():
    assert field_of(nn.AdaptiveAvgPool2d(4), (1, 8, 8)) == square(2, 2, 1.0)
    # 7 -> 3 windows differ in size: marked global
    assert field_of(nn.AdaptiveAvgPool2d(3), (1, 7, 7)).is_global


def test_local_response_norm_keeps_the_field():
    lrn = nn.Sequential(conv3(), nn.LocalResponseNorm(5))
    assert field_of(lrn, (1, 8, 8)) == square(3, 1, 0.5)


def test_unknown_spatial_change_is_unknown():
    upsample = nn.Sequential(conv3(), nn.Upsample(scale_factor=2))
    assert field_of(upsample) is None


def test_inception_block_of_googlenet():
    # GoogLeNet 3a: its widest branch is a 5x5 (torchvision: 3x3) on a map of jump 8
    report = profile("googlenet")
    rows = {r.name: r for r in report.rows}
    before = rows["maxpool2"].receptive_field
    after = rows["inception3a.cat#0"].receptive_field
    assert after.h.jump == before.h.jump == 8
    kernel = max(
        m.kernel_size[0]
        for n, m in cnnzoo.create_model("googlenet").named_modules()
        if n.startswith("inception3a.") and isinstance(m, nn.Conv2d)
    )
    assert after.h.size == before.h.size + (kernel - 1) * 8
