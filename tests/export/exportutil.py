"""Helpers of the export tests: a model's smallest convenient input and the fp32 comparison."""

from __future__ import annotations

import torch

TOLERANCE = 1e-4  # of the largest |logit|


def small_input(model, at_least: int = 32) -> tuple[int, int, int]:
    """``(C, S, S)``: the first fixed size, else ``max(min_input_size, at_least)``."""
    if model.fixed_input_sizes:
        side = model.fixed_input_sizes[0]
    else:
        side = max(model.min_input_size, at_least)
    return (model.in_chans, side, side)


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """Max abs difference relative to the largest |logit| of ``ref``."""
    return float((out - ref).abs().max() / ref.abs().max())
