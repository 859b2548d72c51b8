"""The meta-device memory prediction: its accounting on hand-computable modules, the optimizers'
state, the command's output, and one real network measured against its prediction."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from cnnzoo.analysis.command import SummaryConfig, summary_text
from cnnzoo.analysis.memory import measure_peak, predict_memory

F32 = 4
# Linear(10, 20) -> ReLU -> Linear(20, 5): parameters (10*20 + 20) + (20*5 + 5) = 325
PARAMS = 325 * F32
B = 4


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))


def test_inference_peak_is_weights_input_and_two_activations() -> None:
    model = nn.Sequential(nn.Flatten(), mlp())  # the input is (C, H, W) = (10, 1, 1)
    e = predict_memory(model, B, (10, 1, 1))
    x = B * 10 * F32
    h = B * 20 * F32  # the first Linear's output, then the ReLU's (not in place): both live once
    assert e.weights_at_peak == PARAMS
    assert e.input_at_peak == x
    assert e.peak_bytes == PARAMS + x + 2 * h
    assert e.activations_at_peak == 2 * h
    assert (e.gradients_at_peak, e.optimizer_state_at_peak, e.transient_at_peak) == (0, 0, 0)
    assert sum(e.breakdown().values()) == e.peak_bytes


@pytest.mark.parametrize(("optimizer", "state"), [("sgd", PARAMS), ("adamw", 2 * PARAMS + 4 * 4)])
def test_training_step_counts_gradients_state_and_saved_activations(
    optimizer: str, state: int
) -> None:
    model = nn.Sequential(nn.Flatten(), mlp())
    e = predict_memory(model, B, (10, 1, 1), train=True, optimizer=optimizer)
    x, labels = B * 10 * F32, B * 8
    # SGD: one momentum buffer per parameter; AdamW: exp_avg and exp_avg_sq, and a float32
    # step count per parameter tensor (4 of them)
    assert e.gradients_bytes == PARAMS
    assert e.optimizer_state_bytes == state
    # a steady-state step starts with the weights, the batch, last step's gradients and the state
    assert e.start_bytes == PARAMS + x + labels + PARAMS + state
    # live when the forward pass ends, kept for backward: the ReLU's output (read by its own
    # backward and by the second Linear's weight gradient), the logits (the step's output),
    # log_softmax's output, the loss and nll_loss's total weight (one float32 each); the first
    # Linear's output is freed once the ReLU has run
    relu, logits = B * 20 * F32, B * 5 * F32
    assert e.saved_for_backward_bytes == relu + 2 * logits + 2 * F32
    assert e.peak_bytes >= e.start_bytes + e.saved_for_backward_bytes - PARAMS
    assert sum(e.breakdown().values()) == e.peak_bytes
    assert set(e.phase_peaks) == {"forward", "backward", "optimizer step"}


def test_conv_stack_saved_activations() -> None:
    # conv (saves its input, the batch) -> BN (saves its input and two per-channel statistics)
    # -> ReLU (saves its output; BN's output is freed) -> pool -> linear -> loss
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 2),
    )
    e = predict_memory(model, 2, (3, 16, 16), train=True)
    feature = 2 * 8 * 16 * 16 * F32
    stats, pooled, logits, scalars = 2 * 8 * F32, 2 * 8 * F32, 2 * 2 * F32, 2 * F32
    assert e.gradients_bytes == (8 * 3 * 9 + 8 + 8 + 8 * 2 + 2) * F32
    assert e.saved_for_backward_bytes == 2 * feature + stats + pooled + 2 * logits + scalars


def test_prediction_leaves_the_module_alone() -> None:
    model = nn.Sequential(nn.Flatten(), mlp())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    predict_memory(model, 2, (10, 1, 1), train=True)
    assert model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="batch size"):
        predict_memory("lenet5", 0)
    with pytest.raises(ValueError, match="unknown optimizer"):
        predict_memory("lenet5", 1, train=True, optimizer="rmsprop")


def test_summary_shows_memory_in_table_and_json() -> None:
    text = summary_text(SummaryConfig(model="lenet5", batch_size=8, train=True, depth=1))
    assert "peak memory, inference, batch 8" in text
    assert "peak memory, one training step (adamw), batch 8" in text  # lenet5's recipe
    data = json.loads(
        summary_text(
            SummaryConfig(model="resnet18", train=True, optimizer="sgd", format="json", depth=1)
        )
    )
    inference, training = data["memory"]
    assert (inference["mode"], training["mode"], training["optimizer"]) == (
        "inference",
        "training",
        "sgd",
    )
    assert training["peak_bytes"] > inference["peak_bytes"]
    plain = summary_text(SummaryConfig(model="lenet5", depth=1))
    assert "peak memory" not in plain
    with pytest.raises(ValueError, match="table and json"):
        summary_text(SummaryConfig(model="lenet5", batch_size=2, format="csv"))
    with pytest.raises(ValueError, match="--train"):
        summary_text(SummaryConfig(model="lenet5", optimizer="sgd"))


@pytest.mark.parametrize("train", [False, True])
def test_prediction_matches_the_cpu_allocator_on_a_real_network(train: bool) -> None:
    """resnet20 (CIFAR, 0.27 M parameters) at batch 16: the prediction within 10 % of the peak the
    CPU allocator really reaches."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    from cnnzoo.registry import create_model

    model = create_model("resnet20")
    x, labels = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    measured = measure_peak(model, x, labels, train=train)
    predicted = predict_memory("resnet20", 16, train=train)
    assert measured["at_start"] == pytest.approx(predicted.start_bytes, rel=0.01)
    assert predicted.peak_bytes == pytest.approx(measured["peak"], rel=0.10)


class PoolShiftedSlice(nn.Module):
    """NASNet's factorized reduction, second path: pad right and bottom, drop the first row and
    column (a strided view), pool with stride 2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:], 1, 2)


def test_a_kernels_copy_of_a_strided_input_is_counted() -> None:
    """The CPU pooling kernel copies the strided slice before it pools: a transient the size of
    the slice, which the meta device never allocates; the ledger adds it."""
    torch.set_num_threads(1)
    x = torch.randn(2, 8, 16, 16)
    e = predict_memory(PoolShiftedSlice(), 2, (8, 16, 16))
    feature, padded, pooled = x.nbytes, 2 * 8 * 17 * 17 * F32, 2 * 8 * 8 * 8 * F32
    assert e.peak_bytes == feature + padded + pooled + feature
    assert e.transient_at_peak == feature
    assert e.peak_bytes == measure_peak(PoolShiftedSlice(), x)["peak"]
