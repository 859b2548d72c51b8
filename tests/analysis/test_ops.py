"""Per-operation MAC formulas against hand computation (and FlopCounterMode where it counts)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnzoo.analysis import OPS, profile
from cnnzoo.analysis.ops import bind, op_name


def macs(module: nn.Module, input_size: tuple[int, int, int]) -> tuple[int, int]:
    """(conv+linear MACs, other MACs) of one image through ``module``."""
    totals = profile(module, input_size).totals
    assert totals.unknown_op_count == 0, totals.unknown_ops
    return totals.macs_conv_linear, totals.macs_other


def flop_counter_macs(module: nn.Module, input_size: tuple[int, int, int]) -> int:
    module = module.to("meta").eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.zeros(1, *input_size, device="meta"))
    return counter.get_total_flops() // 2


# (module, input (C, H, W), conv+linear MACs worked out by hand)
CONV_CASES = {
    # 8 x 8 x 8 outputs, each 3 channels x 3 x 3 products
    "int kernel": (nn.Conv2d(3, 8, 3), (3, 10, 10), 8 * 8 * 8 * 3 * 9),
    # out H = (9 + 2 - 3) // 2 + 1 = 5, W = (9 + 4 - 5) + 1 = 9; 3 x 3 x 5 products each
    "tuple kernel, stride, padding": (
        nn.Conv2d(3, 8, (3, 5), stride=(2, 1), padding=(1, 2)),
        (3, 9, 9),
        8 * 5 * 9 * 3 * 15,
    ),
    # dilation 2 makes the 3x3 kernel span 5: out 5 x 5, still 4 x 9 products each
    "dilation": (nn.Conv2d(4, 4, 3, dilation=2), (4, 9, 9), 4 * 5 * 5 * 4 * 9),
    # 4 groups: each output sees 8 / 4 = 2 input channels
    "groups": (nn.Conv2d(8, 16, 3, padding=1, groups=4), (8, 6, 6), 16 * 36 * 2 * 9),
    # depthwise: one input channel per output
    "depthwise": (nn.Conv2d(8, 8, 3, padding=1, groups=8), (8, 6, 6), 8 * 36 * 9),
    # stride 2, padding 3, 7x7 (ResNet stem): out 16 x 16 from 32 x 32
    "stride 2": (nn.Conv2d(3, 4, 7, stride=2, padding=3), (3, 32, 32), 4 * 16 * 16 * 3 * 49),
    # transposed: each of the 4 x 5 x 5 inputs meets 6 x 3 x 3 weights
    "transposed": (nn.ConvTranspose2d(4, 6, 3, stride=2), (4, 5, 5), 4 * 25 * 6 * 9),
}


@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_macs(case):
    module, size, expected = CONV_CASES[case]
    assert macs(module, size) == (expected, 0)
    assert flop_counter_macs(module, size) == expected


def test_linear_macs_on_flattened_input():
    module = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 4, 7))
    assert macs(module, (2, 3, 4)) == (24 * 7, 0)  # M=1, K=24, N=7


def test_linear_macs_on_4d_input():
    # nn.Linear on (1, 3, 4, 6) multiplies 12 rows of 6 by a 6 x 5 matrix
    assert macs(nn.Linear(6, 5), (3, 4, 6)) == (3 * 4 * 6 * 5, 0)


def test_batch_norm_is_one_mac_per_element():
    assert macs(nn.BatchNorm2d(3), (3, 4, 4)) == (0, 48)


@pytest.mark.parametrize("module", [nn.ReLU(), nn.ReLU(inplace=True), nn.ReLU6(), nn.MaxPool2d(2)])
def test_comparisons_cost_nothing(module):
    assert macs(module, (3, 8, 8)) == (0, 0)


def test_avg_pool_counts_its_window():
    assert macs(nn.AvgPool2d(2), (3, 8, 8)) == (0, 3 * 4 * 4 * 4)
    # (3, 2) window, stride 1: out 6 x 7, six adds each
    assert macs(nn.AvgPool2d((3, 2), stride=1), (3, 8, 8)) == (0, 3 * 6 * 7 * 6)


def test_adaptive_avg_pool_sums_exact_windows():
    # H 5 -> 2: windows [0, 3) and [2, 5) (3 + 3); W 7 -> 3: [0, 3), [2, 5), [4, 7) (3 + 3 + 3)
    assert macs(nn.AdaptiveAvgPool2d((2, 3)), (3, 5, 7)) == (0, 3 * 6 * 9)
    # to 1 x 1 PyTorch takes a mean: one add per input element
    assert macs(nn.AdaptiveAvgPool2d(1), (3, 5, 7)) == (0, 3 * 5 * 7)


def test_local_response_norm_decomposes():
    # square (128), 5-channel average (128 x 5), scale, add, pow, divide (4 x 128)
    assert macs(nn.LocalResponseNorm(5), (8, 4, 4)) == (0, 128 + 640 + 4 * 128)


def test_softmax_three_per_element():
    assert macs(nn.Softmax(dim=1), (10, 2, 2)) == (0, 3 * 40)


def test_elementwise_addition_in_a_container():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1, bias=False)

        def forward(self, x):
            return self.conv(x) + x

    assert macs(Twice(), (2, 3, 3)) == (18 * 2, 18)


def test_bind_normalises_window_hyper_parameters_once():
    aten = torch.ops.aten
    x = torch.empty(1, 1, 8, 8, device="meta")
    func = aten.max_pool2d_with_indices.default
    bound = bind(func, (x, [2]), {}, OPS[op_name(func)])
    assert bound["kernel_size"] == (2, 2)
    assert bound["stride"] == (2, 2)  # empty stride means the kernel size
    assert bound["padding"] == (0, 0)
    assert bound["dilation"] == (1, 1)
    func = aten.avg_pool3d.default
    bound = bind(func, (x[None], [3, 1, 1], [1]), {}, OPS[op_name(func)])
    assert bound["kernel_size"] == (3, 1, 1)
    assert bound["stride"] == (1, 1, 1)
    assert bound["count_include_pad"] is True  # schema default filled in


def test_op_names_drop_the_in_place_underscore():
    assert op_name(torch.ops.aten.add_.Tensor) == "add"
    assert op_name(torch.ops.aten.relu_.default) == "relu"
    assert op_name(torch.ops.aten._to_copy.default) == "_to_copy"


def test_every_rule_has_a_known_kind():
    assert {rule.kind for rule in OPS.values()} == {"conv_linear", "other", "shape"}
