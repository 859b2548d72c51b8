"""NASNet: Learning Transferable Architectures for Scalable Image Recognition.

Zoph, Vasudevan, Shlens & Le, CVPR 2018, https://arxiv.org/abs/1707.07012

An architecture search finds two cells, a *normal* cell (keeps the resolution) and a *reduction*
cell (halves it); the network stacks ``num_cells`` (N) normal cells between reduction cells (Sec. 3,
Fig. 2). A cell takes the outputs of the two previous cells and builds B = 5 blocks; each block
picks two hidden states, applies one operation to each and combines the results (Sec. 3, steps 1-5,
Fig. 3). Here a cell is data, a :class:`Genotype`, and one builder, :class:`NASNet`, builds any
valid genotype; ``nasnet_a_mobile`` (4 @ 1056, Table 3) and ``nasnet_a_large`` (6 @ 4032, Table 2)
are the NASNet-A genotype (Fig. 4). "N @ P" is N normal cells per stack and P filters in the
penultimate layer (the notation of Tables 1-3).

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
  starts at 0; call :meth:`NASNet.set_drop_path_progress` with ``step / total_steps``.

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

import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.models.base import ModelSpec, ZooModel
from cnnzoo.models.layers import ConvNormAct

PAPER = "Zoph et al. 2018, arXiv:1707.07012"

NUM_BLOCKS = 5  # Sec. 3: "B = 5" blocks per cell
NUM_INPUTS = 2  # Sec. 3: a cell's inputs are the outputs of the two previous cells
COMBINES = ("add", "concat")  # Sec. 3, step 5: element-wise addition or concatenation
FILTER_SCALING = 2  # Sec. 3: filters double at each reduction
NUM_REDUCTIONS = 2  # Fig. 2: two reduction cells between three stacks of N normal cells
IMAGENET_STEM_CELLS = 2  # Fig. 2 (ImageNet): two reduction cells after the first convolution
CIFAR_STEM_MULTIPLIER = 3  # TF-slim cifar_config: stem_multiplier=3.0
BN_EPS = 1e-3  # TF-slim nasnet_*_arg_scope: batch_norm_epsilon=1e-3
DROPOUT = 0.5  # TF-slim ImageNet configs: dense_dropout_keep_prob=0.5
AUX_CHANNELS = (128, 768)  # TF-slim _build_aux_head: 1x1 projection, then the map-wide conv

# Sec. 3: the 13 operations the controller chooses from, in the paper's order (TF-slim names for
# the ones NASNet-A uses: none, avg_pool_3x3, max_pool_3x3, separable_kxk_2). Built by OPERATIONS.
OPERATION_NAMES = (
    "identity",
    "conv_1x3_3x1",  # 1x3 then 3x1 convolution
    "conv_1x7_7x1",  # 1x7 then 7x1 convolution
    "dil_conv_3x3",  # 3x3 dilated convolution
    "avg_pool_3x3",
    "max_pool_3x3",
    "max_pool_5x5",
    "max_pool_7x7",
    "conv_1x1",
    "conv_3x3",
    "sep_conv_3x3",  # depthwise-separable convolutions
    "sep_conv_5x5",
    "sep_conv_7x7",
)


# --- the genotype ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One block of a cell (Sec. 3, steps 1-5): two hidden-state indices, one operation for each,
    and how the two results are combined (``"add"`` or ``"concat"``)."""

    inputs: tuple[int, int]
    ops: tuple[str, str]
    combine: str = "add"

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "ops", tuple(self.ops))

    @property
    def units(self) -> int:
        """Width of the block's output in multiples of the cell's filters."""
        return NUM_INPUTS if self.combine == "concat" else 1


@dataclass(frozen=True)
class CellGenotype:
    """The blocks of one cell and the hidden states concatenated into its output.

    Args:
        blocks: the cell's blocks; block ``j`` creates hidden state ``j + 2`` and may read states
            ``0 .. j + 1`` (0: previous cell's output, 1: the one before).
        concat: indices of the hidden states concatenated into the output; ``None`` for the
            paper's rule, every block output that no block reads.
    """

    blocks: tuple[Block, ...]
    concat: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(self.blocks))
        if self.concat is not None:
            object.__setattr__(self, "concat", tuple(self.concat))

    @property
    def read_states(self) -> frozenset[int]:
        """The hidden states some block uses as an input."""
        return frozenset(i for block in self.blocks for i in block.inputs)

    @property
    def output_states(self) -> tuple[int, ...]:
        """The hidden states concatenated into the cell's output, in order."""
        if self.concat is not None:
            return self.concat
        read = self.read_states
        return tuple(i for i in range(NUM_INPUTS, NUM_INPUTS + len(self.blocks)) if i not in read)

    @property
    def units(self) -> int:
        """Width of the cell's output in multiples of its filters."""
        return sum(
            1 if i < NUM_INPUTS else self.blocks[i - NUM_INPUTS].units for i in self.output_states
        )


@dataclass(frozen=True)
class Genotype:
    """A NASNet search result: the normal and the reduction cell, ``num_blocks`` blocks each.

    Constructing one validates it; a malformed genotype raises ``ValueError`` naming the cell,
    the block and the problem. :meth:`to_json` / :meth:`from_json` (and ``to_dict`` /
    ``from_dict``) round-trip it.
    """

    normal: CellGenotype
    reduction: CellGenotype
    num_blocks: int = NUM_BLOCKS

    def __post_init__(self) -> None:
        if isinstance(self.num_blocks, bool) or not isinstance(self.num_blocks, int):
            raise ValueError(f"genotype: num_blocks must be an integer, got {self.num_blocks!r}")
        if self.num_blocks < 1:
            raise ValueError(f"genotype: num_blocks must be at least 1, got {self.num_blocks}")
        for name in ("normal", "reduction"):
            _check_cell(getattr(self, name), name, self.num_blocks)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: ``{"normal": {"blocks": [...], "concat": ...}, ...}``."""

        def cell(c: CellGenotype) -> dict[str, Any]:
            blocks = [
                {"inputs": list(b.inputs), "ops": list(b.ops), "combine": b.combine}
                for b in c.blocks
            ]
            return {"blocks": blocks, "concat": None if c.concat is None else list(c.concat)}

        return {
            "normal": cell(self.normal),
            "reduction": cell(self.reduction),
            "num_blocks": self.num_blocks,
        }

    def to_json(self, indent: int | None = None) -> str:
        """The genotype as JSON text (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Genotype:
        """Rebuild a genotype from :meth:`to_dict`'s output; ``ValueError`` if malformed."""
        _check_keys(data, "genotype", required={"normal", "reduction"}, optional={"num_blocks"})
        cells = {name: _cell_from_dict(data[name], name) for name in ("normal", "reduction")}
        return cls(**cells, num_blocks=data.get("num_blocks", NUM_BLOCKS))

    @classmethod
    def from_json(cls, text: str) -> Genotype:
        """Rebuild a genotype from :meth:`to_json`'s output; ``ValueError`` if malformed."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"genotype: not valid JSON: {err}") from None
        return cls.from_dict(data)


def _check_keys(data: Any, where: str, *, required: set[str], optional: set[str]) -> None:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    missing = sorted(required - set(data))
    unknown = sorted(set(data) - required - optional)
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}")
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(required | optional)}")


def _cell_from_dict(data: Any, name: str) -> CellGenotype:
    where = f"{name} cell"
    _check_keys(data, where, required={"blocks"}, optional={"concat"})
    if not isinstance(data["blocks"], list):
        raise ValueError(f"{where}: 'blocks' must be a list")
    blocks = []
    for j, item in enumerate(data["blocks"]):
        _check_keys(item, f"{where}, block {j}", required={"inputs", "ops"}, optional={"combine"})
        for key in ("inputs", "ops"):
            if not isinstance(item[key], list):
                raise ValueError(f"{where}, block {j}: {key!r} must be a list")
        blocks.append(Block(item["inputs"], item["ops"], item.get("combine", "add")))
    concat = data.get("concat")
    if concat is not None and not isinstance(concat, list):
        raise ValueError(f"{where}: 'concat' must be a list or null")
    return CellGenotype(blocks, concat)


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_cell(cell: CellGenotype, name: str, num_blocks: int) -> None:
    """Raise ``ValueError`` naming the cell, the block and the problem."""
    where = f"{name} cell"
    if not isinstance(cell, CellGenotype):
        raise ValueError(f"{where}: expected a CellGenotype, got {type(cell).__name__}")
    if len(cell.blocks) != num_blocks:
        raise ValueError(
            f"{where}: has {len(cell.blocks)} blocks, expected num_blocks="
            f"{num_blocks} (Sec. 3: each cell has B blocks)"
        )
    for j, block in enumerate(cell.blocks):
        at = f"{where}, block {j}"
        if not isinstance(block, Block):
            raise ValueError(f"{at}: expected a Block, got {type(block).__name__}")
        if len(block.inputs) != NUM_INPUTS or len(block.ops) != NUM_INPUTS:
            raise ValueError(
                f"{at}: needs exactly 2 inputs and 2 ops, got "
                f"{len(block.inputs)} and {len(block.ops)}"
            )
        for op in block.ops:
            if op not in OPERATION_NAMES:
                raise ValueError(
                    f"{at}: unknown operation {op!r}; known: {', '.join(OPERATION_NAMES)}"
                )
        for i in block.inputs:
            if not _is_index(i) or not 0 <= i < NUM_INPUTS + j:
                raise ValueError(
                    f"{at}: input index {i!r} out of range; block {j} may read hidden states "
                    f"0..{NUM_INPUTS + j - 1} (0, 1: the cell's inputs, k >= 2: block k-2)"
                )
        if block.combine not in COMBINES:
            raise ValueError(f"{at}: unknown combine {block.combine!r}; known: {COMBINES}")
    if cell.concat is None:
        return
    states = NUM_INPUTS + num_blocks
    if not cell.concat:
        raise ValueError(f"{where}: concat is empty; list the hidden states of the output")
    for i in cell.concat:
        if not _is_index(i) or not 0 <= i < states:
            raise ValueError(f"{where}: concat index {i!r} out of range 0..{states - 1}")
    if len(set(cell.concat)) != len(cell.concat):
        raise ValueError(f"{where}: concat lists a hidden state twice: {list(cell.concat)}")
    dead = [
        k for k in range(NUM_INPUTS, states) if k not in cell.concat and k not in cell.read_states
    ]
    if dead:
        raise ValueError(
            f"{where}: the output of block(s) {[k - NUM_INPUTS for k in dead]} is "
            "neither read by a block nor concatenated"
        )


def random_genotype(
    rng: random.Random | int | None = None,
    *,
    num_blocks: int = NUM_BLOCKS,
    ops: Sequence[str] | None = None,
    combines: Sequence[str] = COMBINES,
) -> Genotype:
    """A genotype drawn uniformly from the search space (the paper's random-search baseline):
    inputs, operations and combine of every block; concatenation by the paper's rule.

    Args:
        rng: a ``random.Random``, a seed, or ``None`` for a fresh unseeded generator.
        num_blocks: blocks per cell (B).
        ops: the operations to draw from; default all of :data:`OPERATION_NAMES`.
        combines: the combine methods to draw from.
    """
    rng = rng if isinstance(rng, random.Random) else random.Random(rng)
    ops = list(ops or OPERATION_NAMES)

    def cell() -> CellGenotype:
        return CellGenotype(
            tuple(
                Block(
                    (rng.randrange(NUM_INPUTS + j), rng.randrange(NUM_INPUTS + j)),
                    (rng.choice(ops), rng.choice(ops)),
                    rng.choice(list(combines)),
                )
                for j in range(num_blocks)
            )
        )

    return Genotype(cell(), cell(), num_blocks)


def penultimate_filters_for(
    genotype: Genotype, filters: int, num_reductions: int = NUM_REDUCTIONS
) -> int:
    """The ``penultimate_filters`` of a network whose first stack has ``filters`` (F) per state:
    ``F * 2**num_reductions * genotype.normal.units`` (24F for NASNet-A)."""
    return filters * FILTER_SCALING**num_reductions * genotype.normal.units


# Fig. 4, as TF-slim's NasNetANormalCell / NasNetAReductionCell write it (their
# ``hiddenstate_indices`` and ``operations`` read in pairs; none -> identity, separable_kxk_2 ->
# sep_conv_kxk). ``concat`` is what their ``used_hiddenstates`` leaves unmarked.
NASNET_A = Genotype(
    normal=CellGenotype(
        (
            Block((0, 1), ("sep_conv_5x5", "sep_conv_3x3")),
            Block((1, 1), ("sep_conv_5x5", "sep_conv_3x3")),
            Block((0, 1), ("avg_pool_3x3", "identity")),
            Block((1, 1), ("avg_pool_3x3", "avg_pool_3x3")),
            Block((0, 0), ("sep_conv_3x3", "identity")),
        ),
        concat=(1, 2, 3, 4, 5, 6),  # used_hiddenstates = [1, 0, 0, 0, 0, 0, 0]: 6 states
    ),
    reduction=CellGenotype(
        (
            Block((0, 1), ("sep_conv_5x5", "sep_conv_7x7")),
            Block((0, 1), ("max_pool_3x3", "sep_conv_7x7")),
            Block((0, 1), ("avg_pool_3x3", "sep_conv_5x5")),
            Block((3, 2), ("identity", "avg_pool_3x3")),
            Block((2, 0), ("sep_conv_3x3", "max_pool_3x3")),
        ),
        concat=(3, 4, 5, 6),  # used_hiddenstates = [1, 1, 1, 0, 0, 0, 0]: 4 states
    ),
)


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


# The operation table: name (OPERATION_NAMES) -> factory (input channels, output channels, stride).
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
    ``progress`` (0 at the start, 1 at the end) scales it linearly. Kept samples are divided by
    the keep probability. Only in training mode.
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob
        self.progress = 0.0

    @property
    def current_prob(self) -> float:
        return self.drop_prob * min(max(self.progress, 0.0), 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.current_prob
        if not self.training or p == 0.0:
            return x
        keep = 1.0 - p
        mask = torch.empty((x.shape[0], 1, 1, 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.4g}, progress={self.progress:.4g}"


class Cell(nn.Module):
    """One normal or reduction cell built from a :class:`CellGenotype`.

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
        if 0 in needed:
            self.conv_1x1 = ReLUConvBN(in_channels, filters, 1)  # TF-slim _cell_base
        widths = [filters, in_channels if prev_channels is None else prev_channels]
        if prev_channels is not None and 1 in needed:  # TF-slim _reduce_prev_layer
            if prev_is_larger:
                self.conv_prev_1x1 = FactorizedReduction(prev_channels, filters, pre_act=True)
                widths[1] = filters
            elif prev_channels != filters:
                self.conv_prev_1x1 = ReLUConvBN(prev_channels, filters, 1)
                widths[1] = filters
        self.drop_path = ScheduledDropPath(drop_prob)
        self.plan: list[tuple[tuple[int, int], tuple[bool, bool], str]] = []
        for j, block in enumerate(genotype.blocks):
            for side, i, op in zip(("left", "right"), block.inputs, block.ops, strict=True):
                stride = 2 if reduction and i < NUM_INPUTS else 1
                self.add_module(f"comb_iter_{j}_{side}", OPERATIONS[op](widths[i], filters, stride))
            drops = tuple(op != "identity" for op in block.ops)  # TF-slim: never on `none`
            self.plan.append((block.inputs, drops, block.combine))
            widths.append(filters * block.units)
        self.concat = genotype.output_states
        for i in self.concat:  # TF-slim _combine_unused_states, for the input states only
            if i >= NUM_INPUTS or (widths[i] == filters and not reduction):
                continue
            if reduction:
                adjust = FactorizedReduction(widths[i], filters, pre_act=False)
            else:
                adjust = ConvNormAct(widths[i], filters, 1, act=False, bn_eps=BN_EPS)
            self.add_module(f"reduction_{i}", adjust)
            widths[i] = filters
        self.out_channels = sum(widths[i] for i in self.concat)

    def forward(self, x: torch.Tensor, x_prev: torch.Tensor | None) -> torch.Tensor:
        h0 = self.conv_1x1(x) if hasattr(self, "conv_1x1") else x
        h1 = x if x_prev is None else x_prev
        if hasattr(self, "conv_prev_1x1"):
            h1 = self.conv_prev_1x1(h1)
        states = [h0, h1]
        for j, (inputs, drops, combine) in enumerate(self.plan):
            out = []
            for side, i, drop in zip(("left", "right"), inputs, drops, strict=True):
                h = getattr(self, f"comb_iter_{j}_{side}")(states[i])
                out.append(self.drop_path(h) if drop else h)
            states.append(out[0] + out[1] if combine == "add" else torch.cat(out, 1))
        parts = []
        for i in self.concat:
            adjust = getattr(self, f"reduction_{i}", None)
            parts.append(states[i] if adjust is None else adjust(states[i]))
        return torch.cat(parts, 1)


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


class NASNetOutputs(NamedTuple):
    """Training-mode output when the auxiliary head is on."""

    logits: torch.Tensor
    aux_logits: torch.Tensor


class _Slot(NamedTuple):
    """One cell of the network: its module name and which earlier output is its h_{i-1}."""

    name: str
    prev_offset: int  # index into the list of outputs, from the end (-2, or -3 when skipping)


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
            :class:`NASNetOutputs`.
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
        super().__init__()
        genotype = _as_genotype(genotype)
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
        filters = penultimate_filters // step  # F: 44 for 4 @ 1056, 168 for 6 @ 4032
        stem_cells = IMAGENET_STEM_CELLS if stem == "imagenet" else 0
        if filters >> stem_cells < 1:
            raise ValueError(
                f"penultimate_filters={penultimate_filters} leaves no filters for the stem cells"
            )
        self.in_chans, self.num_classes = in_chans, num_classes
        self.genotype = genotype
        self.penultimate_filters = penultimate_filters
        self.aux_logits = aux_logits
        self.drop_path_prob = drop_path_prob

        self.conv0, stem_width, self.min_input_size = STEMS[stem](in_chans, stem_filters, filters)
        # (name, cell genotype, filters, reduction) in order; the stem cells are reduction cells
        order: list[tuple[str, CellGenotype, int, bool]] = [
            (f"cell_stem_{k}", genotype.reduction, filters >> (stem_cells - k), True)
            for k in range(stem_cells)
        ]  # F/4, F/2 (TF-slim: filter_scaling = 1 / 2**2, doubled per stem cell)
        for i in range(num_cells * (num_reductions + 1)):
            stack, first = divmod(i, num_cells)
            stack_filters = filters * FILTER_SCALING**stack  # doubled by each reduction cell
            if stack and not first:
                order.append(
                    (f"reduction_cell_{stack - 1}", genotype.reduction, stack_filters, True)
                )
            order.append((f"cell_{i}", genotype.normal, stack_filters, False))

        outputs: list[tuple[int, int] | None] = [None, (stem_width, 0)]  # (channels, reductions)
        slots: list[_Slot] = []
        after_reduction = False
        for index, (name, cell_genotype, cell_filters, reduction) in enumerate(order):
            offset = -3 if skip_reduction_layer_input and after_reduction else -2
            width, level = outputs[-1]
            prev = outputs[offset]
            cell = Cell(
                cell_genotype,
                in_channels=width,
                prev_channels=None if prev is None else prev[0],
                prev_is_larger=prev is not None and prev[1] < level,
                filters=cell_filters,
                reduction=reduction,
                # TF-slim: layer_ratio = (cell_num + 1) / total cells, stem cells included
                drop_prob=drop_path_prob * (index + 1) / len(order),
            )
            self.add_module(name, cell)
            slots.append(_Slot(name, offset))
            outputs.append((cell.out_channels, level + reduction))
            after_reduction = reduction and not name.startswith("cell_stem")
        self.slots = tuple(slots)
        assert outputs[-1][0] == penultimate_filters
        # TF-slim: the aux head reads the last normal cell before the second reduction cell (here:
        # before the last one; the same cell for the paper's two reductions).
        self.aux_after = f"cell_{num_cells * num_reductions - 1}" if aux_logits else None
        if aux_logits:
            aux_width = getattr(self, self.aux_after).out_channels
            self.aux_head = AuxHead(aux_width, num_classes, aux_grid)
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(penultimate_filters, num_classes)
        init_weights(self)

    def set_drop_path_progress(self, progress: float) -> None:
        """Set the ScheduledDropPath schedule: ``progress = step / total_steps`` (clamped to
        [0, 1]); the drop probability of every cell grows linearly with it."""
        for m in self.modules():
            if isinstance(m, ScheduledDropPath):
                m.progress = float(progress)

    @property
    def drop_path_progress(self) -> float:
        return next(m.progress for m in self.modules() if isinstance(m, ScheduledDropPath))

    def _cells(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.conv0(x)  # N x 32 x 111 x 111 (Mobile at 224); N x 96 x 165 x 165 (Large)
        outputs: list[torch.Tensor | None] = [None, x]
        aux = None
        for name, offset in self.slots:
            x = getattr(self, name)(outputs[-1], outputs[offset])
            outputs = [*outputs[-2:], x]  # keep the three latest outputs
            if name == self.aux_after:
                aux = x
        # Mobile at 224: N x 1056 x 7 x 7; Large at 331: N x 4032 x 11 x 11
        return self.relu(x), aux

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._cells(x)[0]

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor | NASNetOutputs:
        self.check_input(x)
        features, aux = self._cells(x)
        logits = self.forward_head(features)
        if self.aux_logits and self.training:
            return NASNetOutputs(logits, self.aux_head(aux))
        return logits


def _as_genotype(genotype: Genotype | Mapping[str, Any] | str) -> Genotype:
    if isinstance(genotype, Genotype):
        return genotype
    if isinstance(genotype, str):
        return Genotype.from_json(genotype)
    if isinstance(genotype, Mapping):
        return Genotype.from_dict(genotype)
    raise ValueError(f"genotype must be a Genotype, a dict or JSON text, got {type(genotype)}")


def _imagenet_stem(in_chans: int, stem_filters: int | None, filters: int):
    """TF-slim ``_imagenet_stem``: 3x3/2 convolution without padding, BN (no ReLU). Returns the
    module, its width and the smallest input: the unpadded 3x3 needs 3 pixels, every later layer
    pads and works down to 1 x 1."""
    width = stem_filters or 32  # TF-slim: 32 * stem_multiplier (1 for Mobile, 3 for Large)
    return ConvNormAct(in_chans, width, 3, 2, act=False, bn_eps=BN_EPS), width, 3


def _cifar_stem(in_chans: int, stem_filters: int | None, filters: int):
    """TF-slim ``_cifar_stem``: 3x3 convolution (padded) and BN; every layer works at 1 x 1."""
    width = stem_filters or CIFAR_STEM_MULTIPLIER * filters
    return ConvNormAct(in_chans, width, 3, 1, 1, act=False, bn_eps=BN_EPS), width, 1


STEMS = {"imagenet": _imagenet_stem, "cifar": _cifar_stem}


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
    options = {"num_cells": 4, "penultimate_filters": 1056, "stem_filters": 32, "aux_grid": 4}
    return NASNet(**{"genotype": NASNET_A, **options, **kwargs})


def nasnet_a_large(**kwargs) -> NASNet:
    """NASNet-A Large, 6 @ 4032 at 331 x 331 (Table 2), TF-slim ``large_imagenet_config``
    (stem_multiplier 3, skip_reduction_layer_input, drop_path_keep_prob 0.7)."""
    options = {
        "num_cells": 6,
        "penultimate_filters": 4032,
        "stem_filters": 96,
        "aux_grid": 6,
        "skip_reduction_layer_input": True,
        "drop_path_prob": 0.3,
    }
    return NASNet(**{"genotype": NASNET_A, **options, **kwargs})


MODELS = (
    ModelSpec(
        "nasnet_a_mobile",
        nasnet_a_mobile,
        family="nasnet",
        paper=PAPER,
        year=2018,
        defaults={"num_cells": 4, "penultimate_filters": 1056, "stem_filters": 32},
    ),
    ModelSpec(
        "nasnet_a_large",
        nasnet_a_large,
        family="nasnet",
        paper=PAPER,
        year=2018,
        input_size=(3, 331, 331),
        defaults={
            "num_cells": 6,
            "penultimate_filters": 4032,
            "stem_filters": 96,
            "skip_reduction_layer_input": True,
            "drop_path_prob": 0.3,
        },
    ),
)
