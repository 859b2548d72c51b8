"""The profiler against oracles: sum(p.numel()), FlopCounterMode, and its own contract."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnnzoo
from cnnzoo.analysis import profile


def build_on_meta(name: str) -> nn.Module:
    spec = cnnzoo.get_model_spec(name)
    with torch.device("meta"):
        model = cnnzoo.create_model(name, in_chans=spec.input_size[0])
    return model.eval()


def params_of_modules_that_ran(model: nn.Module, input_size) -> int:
    """Oracle: own parameters of every module whose forward ran, each parameter once."""
    ran: list[nn.Module] = []
    handles = [m.register_forward_pre_hook(lambda m, _: ran.append(m)) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(1, *input_size, device="meta"))
    for handle in handles:
        handle.remove()
    unique = {id(p): p for m in ran for p in m.parameters(recurse=False)}
    return sum(p.numel() for p in unique.values())


@pytest.mark.parametrize("name", cnnzoo.list_models())
def test_parameters_match_sum_of_numel(name):
    spec = cnnzoo.get_model_spec(name)
    model = build_on_meta(name)
    report = profile(name)
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert report.totals.params_trainable == sum(
        p.numel() for p in model.parameters() if p.requires_grad
    )
    assert report.totals.params_in_rows == params_of_modules_that_ran(model, spec.input_size)
    assert report.totals.params_in_rows == sum(r.params for r in report.rows)


@pytest.mark.parametrize("name", cnnzoo.list_models())
def test_conv_linear_macs_match_flop_counter(name):
    spec = cnnzoo.get_model_spec(name)
    model = build_on_meta(name)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, *spec.input_size, device="meta"))
    report = profile(model, spec.input_size)
    expected = counter.get_total_flops() / 2
    assert report.totals.macs_conv_linear == pytest.approx(expected, rel=1e-3)
    assert report.totals.flops_conv_linear == 2 * report.totals.macs_conv_linear
    assert report.totals.unknown_op_count == 0, report.totals.unknown_ops


class CumSum(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=1)


class WithUnknown(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.leaf = CumSum()

    def forward(self, x):
        return torch.cumsum(self.leaf(self.conv(x)), dim=2)


def test_unknown_operations_are_reported_not_counted_as_zero():
    report = profile(WithUnknown(), (2, 8, 8))
    rows = {r.name: r for r in report.rows}
    assert rows["leaf"].unknown_ops == ("cumsum",)
    assert rows["leaf"].receptive_field is None  # an unknown op's field is unknown
    assert rows["cumsum#0"].type == "functional:cumsum"
    assert rows["cumsum#0"].unknown_ops == ("cumsum",)
    assert report.totals.unknown_op_count == 2
    assert report.totals.unknown_ops == ("cumsum",)
    assert rows["conv"].unknown_ops == ()


class Block(nn.Module):
    """Leaf children plus functional code in forward; ``relu`` is called twice."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.scale = nn.Parameter(torch.ones(4, 1, 1))  # a container's own parameter

    def forward(self, x):
        out = self.relu(self.conv1(x))
        out = self.conv2(out) * self.scale + x
        return torch.cat([self.relu(out), x], 1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.block = Block()
        self.aux = nn.Linear(8, 2)  # never called

    def forward(self, x):
        return self.block(self.stem(x)).mean((2, 3))


def test_rows_are_leaf_calls_and_functional_ops_in_execution_order():
    report = profile(Net(), (3, 6, 6))
    assert [(r.name, r.type) for r in report.rows] == [
        ("stem", "Conv2d"),
        ("block.conv1", "Conv2d"),
        ("block.relu", "ReLU"),
        ("block.conv2", "Conv2d"),
        ("block.mul#0", "functional:mul"),
        ("block.add#0", "functional:add"),
        ("block.relu#1", "ReLU"),
        ("block.cat#0", "functional:cat"),
        ("mean#0", "functional:mean"),
    ]
    rows = {r.name: r for r in report.rows}
    assert rows["block.cat#0"].output_shape == (1, 8, 6, 6)
    assert rows["block.mul#0"].params == 4  # the container's parameter, on its first op
    assert rows["block.relu#1"].params == 0
    assert report.totals.params == sum(p.numel() for p in Net().parameters())
    assert report.totals.params_in_rows == report.totals.params - (8 * 2 + 2)  # aux never ran
    assert report.final_receptive_field_row == "block.cat#0"


def test_trainable_and_frozen_parameters_are_separate():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    model[0].weight.requires_grad_(False)
    report = profile(model, (3, 8, 8))
    conv, bn = report.rows
    assert (conv.params_trainable, conv.params_non_trainable) == (4, 4 * 3 * 9)
    assert bn.params == 8  # running statistics are buffers, not parameters
    assert report.totals.params_trainable == 4 + 8


def test_activation_memory_counts_new_allocations_once():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Identity())
    report = profile(model, (3, 8, 8))
    assert [r.activation_bytes for r in report.rows] == [4 * 64 * 4] * 3
    assert [r.allocated_bytes for r in report.rows] == [4 * 64 * 4, 0, 0]
    assert report.totals.activation_bytes == 4 * 64 * 4
    half = profile(model, (3, 8, 8), dtype=torch.float16)
    assert half.totals.activation_bytes == 4 * 64 * 2
    assert half.dtype == "float16"


def test_the_callers_model_is_untouched():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout(), nn.ReLU()).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    profile(model, (3, 8, 8))
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert all(m.training for m in model.modules())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_meta_model_is_profiled_in_place_and_restored():
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout()).train()
    report = profile(model, (3, 8, 8))
    assert report.totals.unknown_op_count == 0  # eval mode: dropout ran no op at all
    assert all(m.training for m in model.modules())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_registry_name_uses_the_standard_input_and_its_channels():
    report = profile("lenet5")
    spec = cnnzoo.get_model_spec("lenet5")
    assert report.model == "lenet5"
    assert report.input_size == spec.input_size
    assert report.rows[0].output_shape[0] == 1


def test_a_module_needs_an_input_size():
    with pytest.raises(ValueError, match="input_size"):
        profile(nn.ReLU())


def test_vgg16_profiles_fast():
    start = time.perf_counter()
    report = profile("vgg16", (3, 224, 224))
    assert time.perf_counter() - start < 5.0
    assert report.totals.macs_conv_linear == 15_470_264_320
