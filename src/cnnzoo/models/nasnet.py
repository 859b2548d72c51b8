"""NASNet: Learning Transferable Architectures for Scalable Image Recognition.

Zoph, Vasudevan, Shlens & Le, CVPR 2018, https://arxiv.org/abs/1707.07012

An architecture search finds two cells, a *normal* cell (keeps the resolution) and a *reduction*
cell (halves it); the network stacks ``num_cells`` (N) normal cells between reduction cells (Sec. 3,
Fig. 2). A cell takes the outputs of the two previous cells and builds B = 5 blocks; each block
picks two hidden states, applies one operation to each and combines the results (Sec. 3, steps 1-5,
Fig. 3). The cells are data, a :class:`~cnnzoo.models.genotype.Genotype` (``models/genotype.py``:
the types, their JSON form, their validation and the NASNet-A genotype of Fig. 4), and this file
turns any valid genotype into modules: the operations, a :class:`Cell` of blocks
(:class:`CellBlock`), and the network :class:`NASNet`, read top-down as in Fig. 2.
``nasnet_a_mobile`` (4 @ 1056, Table 3) and ``nasnet_a_large`` (6 @ 4032, Table 2) are NASNet-A.
"N @ P" is N normal cells per stack and P filters in the penultimate layer (the notation of Tables
1-3).

Conventions (those of the authors' TF-slim code, ``nasnet.py`` and ``nasnet_utils.py``, which the
reference counts use; later re-implementations differ, see below):

- Cell inputs. Hidden state 0 is the previous cell's output (the paper's h_i), hidden state 1 the
  output of the cell before it (h_{i-1}). State 0 goes through ReLU-1x1 conv-BN to the cell's
  ``filters`` (that module is left out when no block reads state 0 and it is not concatenated).
  State 1 is adjusted only where needed: a factorized reduction (ReLU, two 1x1/2 convolutions on
  pixel grids shifted by one, concatenated, BN) when it has twice the resolution, ReLU-1x1 conv-BN
  when only its channels differ, otherwise it is used as is. The first cell after the stem has no
  h_{i-1}; it uses its own input for both (TF-slim ``prev_layer=None``). DARTS numbers the two
  inputs the other way round (0 = older).
- ``skip_reduction_layer_input`` (TF-slim's flag; on for NASNet-A Large, off for Mobile): the normal
  cell right after a reduction cell takes as h_{i-1} the output from *before* the reduction cell's
  input, not the reduction cell's input.
- Concatenated states. ``CellGenotype.concat`` lists the hidden states whose concatenation is the
  cell's output; left out (``None``) it is the paper's rule that the unused hidden states are
  concatenated: every block output that no block uses as an input. TF-slim writes the list by hand
  for NASNet-A and marks more states as outputs than that rule: the normal cell concatenates h_{i-1}
  (state 1) and all five block outputs (6 states, output 6F), the reduction cell the blocks 1-4
  outputs (states 3-6, although state 3 feeds block 3; output 4F). DARTS' NASNet genotype uses the
  rule (5 and 3 states) and is a different, smaller network. :data:`NASNET_A` spells out TF-slim's
  lists. A concatenated input state (0 or 1) with the wrong resolution or width goes through a
  factorized reduction (stride 2) or a 1x1 conv-BN first (TF-slim ``_combine_unused_states``); block
  outputs are never adjusted.
- Filters. Each reduction cell doubles the cell's ``filters`` F (Sec. 3: the filters are doubled
  whenever the spatial size is halved; TF-slim ``filter_scaling_rate=2``). After two reductions the
  last normal cells have 4F filters per state and concatenate ``units`` states of F (6 for
  NASNet-A), so ``penultimate_filters = F * 2**num_reductions * units``: 24F for NASNet-A, F = 44
  for 4 @ 1056 and 168 for 6 @ 4032. A block that concatenates instead of adding (step 5) is two
  units wide.
- Operations (Sec. 3, the 13 choices; the table :data:`OPERATIONS`) map any input width to F
  channels: convolutions are ReLU-conv-BN, a separable convolution is applied twice
  (ReLU-sepconv-BN-ReLU-sepconv-BN; the paper's appendix and TF-slim), a pooling whose input is not
  F wide is followed by 1x1 conv-BN, and the identity becomes ReLU-1x1 conv-BN when it must stride
  or change width (TF-slim's ``none``). In a reduction cell an operation on an input state (0 or 1)
  has stride 2, one on a block output stride 1.
- ImageNet stem (TF-slim ``_imagenet_stem``): 3x3/2 convolution without padding (32 filters for
  Mobile, 96 for Large) and BN, then two reduction cells ``cell_stem_0``/``cell_stem_1`` with F/4
  and F/2 filters. CIFAR stem: 3x3 convolution of ``3F`` filters and BN, no stem cells.
- ScheduledDropPath (the paper's regulariser): each operation's output except the identity is zeroed
  per sample with probability ``drop_path_prob * (cell + 1) / cells * min(progress, 1)`` (TF-slim
  ``drop_connect_version="v3"``: scaled linearly by depth and by training progress). ``progress``
  starts at 0; the training engine sets it before every step through the model contract's
  ``set_progress(step / total_steps)``.

Deviations from the paper:
- Padding is symmetric (``k // 2``); TF-slim pads "SAME" (asymmetric at stride 2). Output sizes are
  identical. Batch-norm epsilon is TF-slim's 1e-3, momentum PyTorch's default.
- The operations the paper lists but NASNet-A does not use are not in TF-slim; they follow DARTS:
  "1x3 then 3x1" is ReLU-conv1x3-conv3x1-BN, the 3x3 dilated convolution has dilation 2.
- The auxiliary head (off by default; TF-slim: ReLU, 5x5/3 average pool, 1x1 conv 128-BN-ReLU, conv
  768 over the whole pooled map-BN-ReLU, FC; on the last normal cell before the second reduction
  cell; here before the last one, the same cell for two reductions) pools adaptively to an
  ``aux_grid`` x ``aux_grid`` map instead, so that any input size works; ``aux_grid`` is the map
  TF-slim's pool gives at the standard input (4 at 224, 6 at 331), so the parameters are TF-slim's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.models.base import AuxOutputs, ModelSpec, ZooModel
from cnnzoo.models.genotype import (
    NASNET_A,
    NUM_INPUTS,
    Block,
    CellGenotype,
    Genotype,
    as_genotype,
)
from cnnzoo.models.layers import ConvNormAct, fresh_linear

PAPER = "Zoph et al. 2018, arXiv:1707.07012"

FILTER_SCALING = 2  # Sec. 3: filters double at each reduction
NUM_REDUCTIONS = 2  # Fig. 2: two reduction cells between three stacks of N normal cells
IMAGENET_STEM_CELLS = 2  # Fig. 2 (ImageNet): two reduction cells after the first convolution
CIFAR_STEM_MULTIPLIER = 3  # TF-slim cifar_config: stem_multiplier=3.0
BN_EPS = 1e-3  # TF-slim nasnet_*_arg_scope: batch_norm_epsilon=1e-3
DROPOUT = 0.5  # TF-slim ImageNet configs: dense_dropout_keep_prob=0.5
AUX_CHANNELS = (128, 768)  # TF-slim _build_aux_head: 1x1 projection, then the map-wide conv
# each builder's options, N @ P with TF-slim's cifar_config, mobile_imagenet_config and
# large_imagenet_config; its ModelSpec's defaults are the same table
CONFIGS: dict[str, dict] = {
    "nasnet_cifar": {"num_cells": 6, "penultimate_filters": 768, "stem": "cifar"},  # Table 1
    "nasnet_a_mobile": {  # Table 3
        "num_cells": 4,
        "penultimate_filters": 1056,
        "stem_filters": 32,
        "aux_grid": 4,
    },
    "nasnet_a_large": {  # Table 2; stem_multiplier 3, drop_path_keep_prob 0.7
        "num_cells": 6,
        "penultimate_filters": 4032,
        "stem_filters": 96,
        "aux_grid": 6,
        "skip_reduction_layer_input": True,
        "drop_path_prob": 0.3,
    },
}

__all__ = ["NASNET_A", "Genotype", "NASNet", "nasnet_a_large", "nasnet_a_mobile", "nasnet_cifar"]


def penultimate_filters_for(
    genotype: Genotype, filters: int, num_reductions: int = NUM_REDUCTIONS
) -> int:
    """The ``penultimate_filters`` of a network whose first stack has ``filters`` (F) per state:
    ``F * 2**num_reductions * genotype.normal.units`` (24F for NASNet-A)."""
    return filters * FILTER_SCALING**num_reductions * genotype.normal.units


# --- operations -----------------------------------------------------------------------------


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution without bias, batch norm (TF-slim's order inside a cell)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        *,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.relu = nn.ReLU()  # never in place: a hidden state feeds several operations
        padding = dilation * (kernel_size // 2)
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, dilation=dilation, bias=False
        )
        self.bn = _bn(out_channels)


class SeparableConv(nn.Sequential):
    """Depthwise ``k x k`` convolution, then pointwise 1x1 (``slim.separable_conv2d``, depth
    multiplier 1, no bias)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            in_channels,
            in_channels,
            kernel_size,
            stride,
            kernel_size // 2,
            groups=in_channels,
            bias=False,
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)


class StackedSepConv(nn.Sequential):
    """ReLU-sepconv-BN applied twice (the paper's appendix; TF-slim
    ``_stacked_separable_conv``); the first one strides and changes the width."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.relu_1 = nn.ReLU()
        self.separable_1 = SeparableConv(in_channels, out_channels, kernel_size, stride)
        self.bn_sep_1 = _bn(out_channels)
        self.relu_2 = nn.ReLU(inplace=True)
        self.separable_2 = SeparableConv(out_channels, out_channels, kernel_size, 1)
        self.bn_sep_2 = _bn(out_channels)


class FactorizedConv(nn.Sequential):
    """ReLU, ``1 x k`` then ``k x 1`` convolution, BN (the paper's "1x3 then 3x1" / "1x7 then
    7x1"; layout of DARTS' ``conv_7x1_1x7``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.relu = nn.ReLU()
        self.conv_1xk = nn.Conv2d(
            in_channels, out_channels, (1, kernel_size), (1, stride), (0, pad), bias=False
        )
        self.conv_kx1 = nn.Conv2d(
            out_channels, out_channels, (kernel_size, 1), (stride, 1), (pad, 0), bias=False
        )
        self.bn = _bn(out_channels)


class Pool(nn.Sequential):
    """``k x k`` pooling (padding ``k // 2``), then 1x1 conv-BN if the input is not ``out``
    channels wide (TF-slim ``_apply_conv_operation``, pooling branch)."""

    def __init__(
        self, kind: str, in_channels: int, out_channels: int, kernel_size: int, stride: int
    ) -> None:
        super().__init__()
        pad = kernel_size // 2
        if kind == "avg":  # TF "SAME" average pooling leaves the padding out of the mean
            self.pool = nn.AvgPool2d(kernel_size, stride, pad, count_include_pad=False)
        else:
            self.pool = nn.MaxPool2d(kernel_size, stride, pad)
        if in_channels != out_channels:
            self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
            self.bn = _bn(out_channels)


def _identity(c_in: int, c_out: int, stride: int) -> nn.Module:
    """TF-slim's ``none``: the identity, or ReLU-1x1 conv-BN where it must stride or change
    width."""
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return ReLUConvBN(c_in, c_out, 1, stride)


def _pool(kind: str, k: int) -> Callable[[int, int, int], nn.Module]:
    return lambda c_in, c_out, stride: Pool(kind, c_in, c_out, k, stride)


def _conv(k: int, dilation: int = 1) -> Callable[[int, int, int], nn.Module]:
    return lambda c_in, c_out, stride: ReLUConvBN(c_in, c_out, k, stride, dilation=dilation)


def _sep(k: int) -> Callable[[int, int, int], nn.Module]:
    return lambda c_in, c_out, stride: StackedSepConv(c_in, c_out, k, stride)


def _factorized(k: int) -> Callable[[int, int, int], nn.Module]:
    return lambda c_in, c_out, stride: FactorizedConv(c_in, c_out, k, stride)


# The operation table: name (genotype.OPERATION_NAMES) -> factory (input channels, output channels,
# stride).
OPERATIONS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "identity": _identity,
    "conv_1x3_3x1": _factorized(3),
    "conv_1x7_7x1": _factorized(7),
    "dil_conv_3x3": _conv(3, dilation=2),  # dilation 2 (DARTS' dil_conv)
    "avg_pool_3x3": _pool("avg", 3),
    "max_pool_3x3": _pool("max", 3),
    "max_pool_5x5": _pool("max", 5),
    "max_pool_7x7": _pool("max", 7),
    "conv_1x1": _conv(1),
    "conv_3x3": _conv(3),
    "sep_conv_3x3": _sep(3),
    "sep_conv_5x5": _sep(5),
    "sep_conv_7x7": _sep(7),
}


# --- building blocks ------------------------------------------------------------------------


class FactorizedReduction(nn.Module):
    """Halve the resolution without dropping pixels (TF-slim ``factorized_reduction``): two
    1x1/2 convolutions, the second on the grid shifted by one pixel, each giving half of
    ``out_channels`` (the second the odd one), concatenated, then BN. ``pre_act`` puts a ReLU
    first (TF-slim does for a cell's h_{i-1}, not for a concatenated state)."""

    def __init__(self, in_channels: int, out_channels: int, *, pre_act: bool) -> None:
        super().__init__()
        self.pre_act = pre_act
        half = out_channels // 2
        self.path_1 = nn.Sequential(
            nn.AvgPool2d(1, stride=2), nn.Conv2d(in_channels, half, 1, bias=False)
        )
        self.path_2 = nn.Sequential(
            nn.AvgPool2d(1, stride=2), nn.Conv2d(in_channels, out_channels - half, 1, bias=False)
        )
        self.final_path_bn = _bn(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_act:
            x = F.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.final_path_bn(torch.cat([self.path_1(x), self.path_2(shifted)], 1))


class ScheduledDropPath(nn.Module):
    """Drop a branch per sample with a probability that grows with depth and training.

    ``drop_prob`` is the probability at the end of training, already scaled by the cell's depth;
    ``progress`` (0 at the start, 1 at the end, clamped) scales it linearly. Kept samples are
    divided by the keep probability. Only in training mode. ``progress`` is a buffer, not a float:
    ``torch.compile`` specialises on a module's float attributes and would recompile at every step;
    it is not saved in the state dict (the engine sets it before every step).
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob
        self.register_buffer("progress", torch.zeros(()), persistent=False)

    def set_progress(self, fraction: float) -> None:
        self.progress.fill_(fraction)

    @property
    def current_prob(self) -> float:
        return self.drop_prob * float(self.progress.clamp(0.0, 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0.0:
            return x
        keep = 1.0 - self.drop_prob * self.progress.clamp(0.0, 1.0)
        mask = torch.bernoulli(keep.expand(x.shape[0], 1, 1, 1)).to(x.dtype)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.4g}"


class CellBlock(nn.Module):
    """One block (Sec. 3, steps 3-5): an operation on each of two hidden states, the two results
    added or concatenated. ScheduledDropPath acts on each result except an identity's (TF-slim
    never drops ``none``). In a reduction cell an operation on an input state strides by 2.

    Args:
        block: the block's genotype.
        widths: the widths of the hidden states so far.
        filters: the cell's F, every operation's output width.
        reduction: whether the block is in a reduction cell.
    """

    def __init__(self, block: Block, widths: list[int], filters: int, reduction: bool) -> None:
        super().__init__()
        self.inputs, self.combine = block.inputs, block.combine
        self.left, self.right = (
            OPERATIONS[op](widths[i], filters, 2 if reduction and i < NUM_INPUTS else 1)
            for i, op in zip(block.inputs, block.ops, strict=True)
        )
        self.dropped = tuple(op != "identity" for op in block.ops)

    def forward(self, states: list[torch.Tensor], drop_path: nn.Module) -> torch.Tensor:
        outs = [op(states[i]) for op, i in zip((self.left, self.right), self.inputs, strict=True)]
        outs = [drop_path(h) if drop else h for h, drop in zip(outs, self.dropped, strict=True)]
        return outs[0] + outs[1] if self.combine == "add" else torch.cat(outs, 1)


class Cell(nn.Module):
    """One normal or reduction cell built from a :class:`CellGenotype` (Fig. 3, Fig. 4).

    Args:
        genotype: the cell's blocks and output states.
        in_channels: width of the previous cell's output (hidden state 0 before its 1x1).
        prev_channels: width of h_{i-1}, or ``None`` if the cell has only one input.
        prev_is_larger: h_{i-1} has twice the resolution (it precedes a reduction).
        filters: the cell's F: width of every operation's output.
        reduction: stride 2 for the operations on the input states.
        drop_prob: ScheduledDropPath probability at the end of training for this cell.
    """

    def __init__(
        self,
        genotype: CellGenotype,
        *,
        in_channels: int,
        prev_channels: int | None,
        prev_is_larger: bool,
        filters: int,
        reduction: bool,
        drop_prob: float = 0.0,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        needed = genotype.read_states | set(genotype.output_states)
        # Hidden state 0: the previous cell's output through ReLU-1x1-BN (TF-slim _cell_base).
        self.conv_1x1 = ReLUConvBN(in_channels, filters, 1) if 0 in needed else nn.Identity()
        widths = [filters, in_channels if prev_channels is None else prev_channels]
        # Hidden state 1: h_{i-1} fitted to the resolution and width (TF-slim _reduce_prev_layer);
        # the first cell after the stem has no h_{i-1} and reads its own input twice.
        self.conv_prev_1x1: nn.Module = nn.Identity()
        if prev_channels is not None and 1 in needed:
            if prev_is_larger:
                self.conv_prev_1x1 = FactorizedReduction(prev_channels, filters, pre_act=True)
                widths[1] = filters
            elif prev_channels != filters:
                self.conv_prev_1x1 = ReLUConvBN(prev_channels, filters, 1)
                widths[1] = filters
        self.drop_path = ScheduledDropPath(drop_prob)
        self.blocks = nn.ModuleList()
        for block in genotype.blocks:  # block j creates hidden state j + 2
            self.blocks.append(CellBlock(block, widths, filters, reduction))
            widths.append(filters * block.units)
        # The output: the concatenated states; an input state among them is fitted to the cell's
        # resolution and F (TF-slim _combine_unused_states); block outputs are never adjusted.
        self.concat = genotype.output_states
        self.concat_adjust = nn.ModuleList(
            _fit_input_state(widths[i], filters, reduction) if i < NUM_INPUTS else nn.Identity()
            for i in self.concat
        )
        self.out_channels = sum(filters if i < NUM_INPUTS else widths[i] for i in self.concat)

    def forward(self, x: torch.Tensor, x_prev: torch.Tensor | None) -> torch.Tensor:
        states = [self.conv_1x1(x), self.conv_prev_1x1(x if x_prev is None else x_prev)]
        for block in self.blocks:
            states.append(block(states, self.drop_path))
        parts = [
            adjust(states[i]) for i, adjust in zip(self.concat, self.concat_adjust, strict=True)
        ]
        return torch.cat(parts, 1)


def _fit_input_state(width: int, filters: int, reduction: bool) -> nn.Module:
    """A concatenated input state to the cell's output resolution and width ``filters``."""
    if reduction:
        return FactorizedReduction(width, filters, pre_act=False)
    if width != filters:
        return ConvNormAct(width, filters, 1, act=False, bn_eps=BN_EPS)
    return nn.Identity()


class AuxHead(nn.Sequential):
    """Auxiliary classifier (TF-slim ``_build_aux_head``; adaptive pooling, see the deviations)."""

    def __init__(self, in_channels: int, num_classes: int, grid: int) -> None:
        super().__init__()
        proj, width = AUX_CHANNELS
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(grid)
        self.proj = ConvNormAct(in_channels, proj, 1, bn_eps=BN_EPS)
        self.conv = ConvNormAct(proj, width, grid, bn_eps=BN_EPS)  # covers the whole pooled map
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(width, num_classes)


def _imagenet_stem(in_chans: int, stem_filters: int | None, filters: int):
    """TF-slim ``_imagenet_stem``: 3x3/2 convolution without padding, BN (no ReLU)."""
    width = stem_filters or 32  # TF-slim: 32 * stem_multiplier (1 for Mobile, 3 for Large)
    return ConvNormAct(in_chans, width, 3, 2, act=False, bn_eps=BN_EPS), width


def _cifar_stem(in_chans: int, stem_filters: int | None, filters: int):
    """TF-slim ``_cifar_stem``: 3x3 convolution (padded) and BN."""
    width = stem_filters or CIFAR_STEM_MULTIPLIER * filters
    return ConvNormAct(in_chans, width, 3, 1, 1, act=False, bn_eps=BN_EPS), width


class Stem(NamedTuple):
    """How a network starts (Fig. 2): ``build(in_chans, stem_filters, F) -> (module, width)``,
    the reduction cells after it, and the smallest input it accepts."""

    build: Callable[[int, int | None, int], tuple[nn.Module, int]]
    cells: int
    min_input_size: int


# The unpadded 3x3/2 of the ImageNet stem needs 3 pixels; every later layer pads and works down to
# 1 x 1, and so does the CIFAR stem's padded 3x3.
STEMS = {
    "imagenet": Stem(_imagenet_stem, IMAGENET_STEM_CELLS, 3),
    "cifar": Stem(_cifar_stem, 0, 1),
}


class CellSlot(NamedTuple):
    """One cell of Fig. 2's stack: its name, genotype kind, filters, and whether it reduces."""

    name: str
    reduction: bool
    filters: int


def cell_sequence(
    num_cells: int, num_reductions: int, stem_cells: int, filters: int
) -> list[CellSlot]:
    """The cells of Fig. 2 in order: the stem's reduction cells with F/4 and F/2 filters (TF-slim:
    filter_scaling = 1 / 2**2, doubled per stem cell), then ``num_reductions + 1`` stacks of
    ``num_cells`` normal cells with a reduction cell between stacks; each reduction doubles F."""
    slots = [
        CellSlot(f"cell_stem_{k}", True, filters >> (stem_cells - k)) for k in range(stem_cells)
    ]
    for i in range(num_cells * (num_reductions + 1)):
        stack, first = divmod(i, num_cells)
        stack_filters = filters * FILTER_SCALING**stack
        if stack and not first:
            slots.append(CellSlot(f"reduction_cell_{stack - 1}", True, stack_filters))
        slots.append(CellSlot(f"cell_{i}", False, stack_filters))
    return slots


# --- the network ----------------------------------------------------------------------------


class NASNet(ZooModel):
    """A NASNet built from a genotype: stem, then ``num_reductions + 1`` stacks of ``num_cells``
    normal cells with a reduction cell between stacks (Fig. 2).

    Args:
        genotype: a :class:`Genotype` (or its ``to_dict`` / ``to_json`` form).
        num_cells: N, normal cells per stack.
        penultimate_filters: width of the last cell's output (the "@ P" of "N @ P"); must be a
            multiple of ``2**num_reductions * genotype.normal.units``
            (:func:`penultimate_filters_for` computes it from F).
        stem: ``"imagenet"`` (3x3/2 conv and two stem reduction cells) or ``"cifar"`` (3x3 conv).
        stem_filters: filters of the stem convolution; default 32 for ImageNet (Mobile; Large
            uses 96) and ``3F`` for CIFAR.
        num_reductions: reduction cells between the stacks.
        skip_reduction_layer_input: TF-slim's flag (see the module docstring).
        drop_path_prob: ScheduledDropPath probability of the last cell at the end of training.
        dropout: dropout before the classifier.
        aux_logits: add the auxiliary head; training-mode ``forward`` then returns
            :class:`~cnnzoo.models.base.AuxOutputs`.
        aux_grid: side of the map the auxiliary head pools to.
        num_classes: classifier outputs.
        in_chans: input channels.
    """

    def __init__(
        self,
        genotype: Genotype | Mapping[str, Any] | str = NASNET_A,
        *,
        num_cells: int = 4,
        penultimate_filters: int = 1056,
        stem: str = "imagenet",
        stem_filters: int | None = None,
        num_reductions: int = NUM_REDUCTIONS,
        skip_reduction_layer_input: bool = False,
        drop_path_prob: float = 0.0,
        dropout: float = DROPOUT,
        aux_logits: bool = False,
        aux_grid: int = 4,
        num_classes: int = 1000,
        in_chans: int = 3,
    ) -> None:
        genotype = as_genotype(genotype)
        filters = _check_options(
            genotype,
            stem,
            num_cells,
            num_reductions,
            penultimate_filters,
            drop_path_prob,
            aux_logits,
        )
        super().__init__(
            num_classes=num_classes, in_chans=in_chans, min_input_size=STEMS[stem].min_input_size
        )
        self.genotype = genotype
        self.aux_logits = aux_logits
        self.drop_path_prob = drop_path_prob

        self.conv0, stem_width = STEMS[stem].build(in_chans, stem_filters, filters)
        slots = cell_sequence(num_cells, num_reductions, STEMS[stem].cells, filters)
        outputs: list[tuple[int, int] | None] = [None, (stem_width, 0)]  # (channels, reductions)
        offsets: list[int] = []  # where each cell's h_{i-1} is, counted from the latest output
        after_reduction = False
        for index, slot in enumerate(slots):
            offset = -3 if skip_reduction_layer_input and after_reduction else -2
            width, level = outputs[-1]
            prev = outputs[offset]
            cell = Cell(
                genotype.reduction if slot.reduction else genotype.normal,
                in_channels=width,
                prev_channels=None if prev is None else prev[0],
                prev_is_larger=prev is not None and prev[1] < level,
                filters=slot.filters,
                reduction=slot.reduction,
                # TF-slim: layer_ratio = (cell_num + 1) / total cells, stem cells included
                drop_prob=drop_path_prob * (index + 1) / len(slots),
            )
            self.add_module(slot.name, cell)
            offsets.append(offset)
            outputs.append((cell.out_channels, level + slot.reduction))
            after_reduction = slot.reduction and not slot.name.startswith("cell_stem")
        self.prev_offsets = tuple(offsets)
        assert outputs[-1][0] == penultimate_filters
        # TF-slim: the aux head reads the last normal cell before the second reduction cell (here:
        # before the last one; the same cell for the paper's two reductions).
        names = [slot.name for slot in slots]
        self.aux_index = names.index(f"cell_{num_cells * num_reductions - 1}") if aux_logits else -1
        self.aux_head = None
        if aux_logits:
            self.aux_head = AuxHead(outputs[2 + self.aux_index][0], num_classes, aux_grid)
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.num_features = penultimate_filters
        self.fc = nn.Linear(penultimate_filters, num_classes)
        init_weights(self)

    def cells(self) -> Iterator[Cell]:
        """The cells in the order they run (stem cells first)."""
        return (m for m in self.children() if isinstance(m, Cell))

    def set_progress(self, fraction: float) -> None:
        """ScheduledDropPath: every cell's drop probability grows linearly with the fraction of
        training done (clamped to [0, 1])."""
        for cell in self.cells():
            cell.drop_path.set_progress(fraction)

    def _run_cells(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.conv0(x)  # N x 32 x 111 x 111 (Mobile at 224); N x 96 x 165 x 165 (Large)
        outputs: list[torch.Tensor | None] = [None, x]
        aux = None
        for index, (cell, offset) in enumerate(zip(self.cells(), self.prev_offsets, strict=True)):
            x = cell(outputs[-1], outputs[offset])
            outputs = [*outputs[-2:], x]  # keep the three latest outputs
            if index == self.aux_index:
                aux = x
        # Mobile at 224: N x 1056 x 7 x 7; Large at 331: N x 4032 x 11 x 11
        return self.relu(x), aux

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._run_cells(x)[0]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pooling (the ``pre_logits`` vector), dropout, the classifier."""
        x = torch.flatten(self.avgpool(x), 1)  # N x penultimate_filters
        return x if pre_logits else self.fc(self.dropout(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor | AuxOutputs:
        self.check_input(x)
        features, aux = self._run_cells(x)
        logits = self.forward_head(features)
        if self.aux_head is not None and self.training:
            return AuxOutputs(logits, (self.aux_head(aux),))
        return logits

    def reset_classifier(self, num_classes: int) -> None:
        """A new classifier (and auxiliary classifier) for ``num_classes``, initialised as
        :func:`init_weights` does."""
        self.num_classes = num_classes
        self.fc = fresh_linear(self.fc, num_classes)
        init_weights(self.fc)
        if self.aux_head is not None:
            self.aux_head.fc = fresh_linear(self.aux_head.fc, num_classes)
            init_weights(self.aux_head.fc)


def _check_options(
    genotype: Genotype,
    stem: str,
    num_cells: int,
    num_reductions: int,
    penultimate_filters: int,
    drop_path_prob: float,
    aux_logits: bool,
) -> int:
    """Raise ``ValueError`` for options that build no network; return F, the first stack's
    filters (44 for 4 @ 1056, 168 for 6 @ 4032)."""
    if stem not in STEMS:
        raise ValueError(f"stem must be one of {sorted(STEMS)}, got {stem!r}")
    if num_cells < 1 or num_reductions < 0:
        raise ValueError(
            f"need num_cells >= 1 and num_reductions >= 0, got {num_cells}, {num_reductions}"
        )
    if not 0.0 <= drop_path_prob < 1.0:
        raise ValueError(f"drop_path_prob must be in [0, 1), got {drop_path_prob}")
    if aux_logits and num_reductions < 1:
        raise ValueError("aux_logits needs a reduction cell (it sits before the last one)")
    step = penultimate_filters_for(genotype, 1, num_reductions)
    if penultimate_filters % step:
        raise ValueError(
            f"penultimate_filters={penultimate_filters} is not a multiple of {step} "
            f"(= {FILTER_SCALING}**{num_reductions} reductions x {genotype.normal.units} "
            "concatenated units of the normal cell)"
        )
    filters = penultimate_filters // step
    if filters >> STEMS[stem].cells < 1:
        raise ValueError(
            f"penultimate_filters={penultimate_filters} leaves no filters for the stem cells"
        )
    return filters


@torch.no_grad()
def _truncated_normal_(weight: torch.Tensor, std: float) -> None:
    """N(0, std) truncated at 2 std, by the inverse CDF (one pass; ``nn.init.trunc_normal_``
    resamples in a loop and takes seconds for NASNet-A Large)."""
    bound = math.erf(2.0 / math.sqrt(2.0))  # 2 * Phi(2) - 1
    weight.uniform_(-bound, bound).erfinv_().mul_(std * math.sqrt(2.0))


def init_weights(model: nn.Module) -> None:
    """TF-slim's ``variance_scaling_initializer(mode="FAN_OUT")`` (He et al. 2015, fan-out):
    truncated normal (2 std) with std sqrt(1.3 * 2 / fan_out), fan_out = kernel area x output
    channels per group, for convolutions and the classifiers; zero biases; BN scale 1, shift 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            fan_out = m.weight.shape[0] * math.prod(m.weight.shape[2:])
            if isinstance(m, nn.Conv2d):
                fan_out //= m.groups
            _truncated_normal_(m.weight, math.sqrt(1.3 * 2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def nasnet_a_mobile(**kwargs) -> NASNet:
    """NASNet-A Mobile, 4 @ 1056 (Table 3), TF-slim ``mobile_imagenet_config``."""
    return NASNet(**{"genotype": NASNET_A, **CONFIGS["nasnet_a_mobile"], **kwargs})


def nasnet_a_large(**kwargs) -> NASNet:
    """NASNet-A Large, 6 @ 4032 at 331 x 331 (Table 2), TF-slim ``large_imagenet_config``
    (stem_multiplier 3, skip_reduction_layer_input, drop_path_keep_prob 0.7)."""
    return NASNet(**{"genotype": NASNET_A, **CONFIGS["nasnet_a_large"], **kwargs})


def nasnet_cifar(**kwargs) -> NASNet:
    """The CIFAR-10 network of a genotype, NASNet-A 6 @ 768 by default (3.3 M parameters for
    10 classes, Table 1): the 3x3 stem and three stacks of N normal cells, 32 x 32 inputs. The
    search's candidates and its transferred networks are this builder with their genotype, N
    and P."""
    return NASNet(**{"genotype": NASNET_A, **CONFIGS["nasnet_cifar"], **kwargs})


MODELS = (
    ModelSpec(
        "nasnet_cifar",
        nasnet_cifar,
        family="nasnet",
        paper=PAPER,
        year=2018,
        input_size=(3, 32, 32),
        num_classes=10,  # CIFAR-10 (Sec. 4.1)
        defaults=CONFIGS["nasnet_cifar"],
    ),
    ModelSpec(
        "nasnet_a_mobile",
        nasnet_a_mobile,
        family="nasnet",
        paper=PAPER,
        year=2018,
        defaults=CONFIGS["nasnet_a_mobile"],
    ),
    ModelSpec(
        "nasnet_a_large",
        nasnet_a_large,
        family="nasnet",
        paper=PAPER,
        year=2018,
        input_size=(3, 331, 331),
        defaults=CONFIGS["nasnet_a_large"],
    ),
)
