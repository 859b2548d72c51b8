"""LeNet-5: Gradient-Based Learning Applied to Document Recognition.

LeCun, Bottou, Bengio & Haffner, Proceedings of the IEEE 86(11), 1998,
http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf (no arXiv version).

LeNet-5 (Sec. II-B, Fig. 2) takes a 32x32 image and alternates convolutions with subsampling:
C1 (6@28x28) - S2 (6@14x14) - C3 (16@10x10) - S4 (16@5x5) - C5 (120@1x1) - F6 (84) - output.

Two networks are built by one class:

- ``lenet5_original``, the network as published: trainable subsampling layers, the partial C3
  connection table of Table I, the scaled tanh ``A tanh(S a)`` and Euclidean RBF output units with
  fixed parameter vectors; exactly 60,000 trainable parameters (Sec. II-B).
- ``lenet5``, the usual modern rendition: ReLU, 2x2 max-pooling, a dense C3 and a linear output.

Deviations from the paper:
- The output of ``lenet5_original`` is the *negative* RBF distance ``-y_i`` (Eq. 7), so that the
  arg-max is the predicted class and cross-entropy can train it. Cross-entropy on ``-y`` is the
  paper's MAP criterion (Eq. 9) without the constant "rubbish class" term ``exp(-j)``.
- The paper's RBF targets for the ten digits are the stylised 7x12 bitmaps of Fig. 3; the bitmaps in
  :data:`DIGIT_BITMAPS` are drawn in that style, not copied pixel by pixel from the figure. For any
  other number of classes the codes are a fixed, seeded random +1/-1 choice (Sec. II-B says they
  could be chosen at random).
- C5 is a 5x5 convolution in both networks (as in the paper), so ``forward_features`` returns
  ``N x 120 x 1 x 1``; for the ReLU rendition this is the same layer as a 400->120 linear layer.
- A 28x28 input (MNIST) is zero-padded to 32x32, as the paper places the 28x28 MNIST digits in a
  32x32 field (Sec. III-A); the paper's input normalisation (background -0.1, foreground 1.175) is
  left to the data pipeline.
- The ReLU rendition is initialised with He et al. 2015 (the paper's range is tuned to its tanh).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.models.base import ModelSpec, ZooModel

PAPER = "LeCun et al. 1998, Proc. IEEE 86(11)"

INPUT_SIZE = 32  # Sec. II-B: "The input is a 32x32 pixel image"
MNIST_SIZE = 28  # Sec. II-B, III-A: the MNIST digits sit in a 28x28 field
KERNEL = 5  # Sec. II-B: every convolution (C1, C3, C5) uses 5x5 neighbourhoods
SUBSAMPLE = 2  # Sec. II-B: S2 and S4 sum non-overlapping 2x2 neighbourhoods
C1_MAPS, C3_MAPS, C5_MAPS = 6, 16, 120  # Sec. II-B / Fig. 2: feature maps of C1, C3, C5
F6_UNITS = 84  # Sec. II-B: 84 units, one per pixel of the 7x12 output bitmaps
TANH_A, TANH_S = 1.7159, 2 / 3  # Sec. II-B, Eq. 6 and Appendix A: f(a) = A tanh(S a)
INIT_RANGE = 2.4  # Appendix A: weights uniform in +-2.4 / F_i, F_i the fan-in of the unit

# Table I: for each C3 feature map (a column of the table), the S2 maps (rows) it takes as input.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (4, 5, 0),
    (5, 0, 1),  # maps 0-5: contiguous 3
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (3, 4, 5, 0),
    (4, 5, 0, 1),
    (5, 0, 1, 2),  # maps 6-11: contiguous 4
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),  # maps 12-14: discontinuous 4
    (0, 1, 2, 3, 4, 5),  # map 15: all six
)

# Fig. 3: stylised 7x12 bitmaps of the digits, the fixed parameter vectors of the output RBF units
# ("#" = +1, "." = -1; Sec. II-B). Drawn in the style of the figure.
DIGIT_BITMAPS: tuple[tuple[str, ...], ...] = (
    (
        ".......",
        "..###..",
        ".#...#.",
        "#.....#",
        "#.....#",
        "#.....#",
        "#.....#",
        "#.....#",
        "#.....#",
        ".#...#.",
        "..###..",
        ".......",
    ),  # 0
    (
        ".......",
        "...#...",
        "..##...",
        ".#.#...",
        "...#...",
        "...#...",
        "...#...",
        "...#...",
        "...#...",
        "...#...",
        ".#####.",
        ".......",
    ),  # 1
    (
        ".......",
        ".#####.",
        "#.....#",
        "......#",
        ".....#.",
        "....#..",
        "...#...",
        "..#....",
        ".#.....",
        "#......",
        "#######",
        ".......",
    ),  # 2
    (
        ".......",
        ".#####.",
        "#.....#",
        "......#",
        "......#",
        "..####.",
        "......#",
        "......#",
        "......#",
        "#.....#",
        ".#####.",
        ".......",
    ),  # 3
    (
        ".......",
        "....##.",
        "...#.#.",
        "..#..#.",
        ".#...#.",
        "#....#.",
        "#######",
        ".....#.",
        ".....#.",
        ".....#.",
        ".....#.",
        ".......",
    ),  # 4
    (
        ".......",
        "#######",
        "#......",
        "#......",
        "######.",
        "......#",
        "......#",
        "......#",
        "......#",
        "#.....#",
        ".#####.",
        ".......",
    ),  # 5
    (
        ".......",
        "..####.",
        ".#.....",
        "#......",
        "#......",
        "######.",
        "#.....#",
        "#.....#",
        "#.....#",
        "#.....#",
        ".#####.",
        ".......",
    ),  # 6
    (
        ".......",
        "#######",
        "......#",
        ".....#.",
        "....#..",
        "...#...",
        "...#...",
        "..#....",
        "..#....",
        "..#....",
        "..#....",
        ".......",
    ),  # 7
    (
        ".......",
        ".#####.",
        "#.....#",
        "#.....#",
        "#.....#",
        ".#####.",
        "#.....#",
        "#.....#",
        "#.....#",
        "#.....#",
        ".#####.",
        ".......",
    ),  # 8
    (
        ".......",
        ".#####.",
        "#.....#",
        "#.....#",
        "#.....#",
        "#.....#",
        ".######",
        "......#",
        "......#",
        ".....#.",
        ".####..",
        ".......",
    ),  # 9
)
RANDOM_CODE_SEED = 0  # seed of the +-1 codes used when num_classes != 10


class LeNetVariant(NamedTuple):
    """What distinguishes the published network from the modern rendition."""

    relu: bool  # ReLU and He init, instead of the scaled tanh and the paper's init
    trainable_subsampling: bool  # S2/S4 as in the paper, instead of 2x2 max-pooling
    c3_table: tuple[tuple[int, ...], ...] | None  # Table I, or None for a dense C3
    rbf_output: bool  # fixed Euclidean RBF units, instead of a linear layer


ORIGINAL = LeNetVariant(relu=False, trainable_subsampling=True, c3_table=C3_TABLE, rbf_output=True)
RENDITION = LeNetVariant(relu=True, trainable_subsampling=False, c3_table=None, rbf_output=False)


class ScaledTanh(nn.Module):
    """The squashing function ``f(a) = A tanh(S a)`` of Sec. II-B (Eq. 6), A = 1.7159, S = 2/3."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return TANH_A * torch.tanh(TANH_S * x)


class Subsampling(nn.Module):
    """S2 / S4 (Sec. II-B): each unit sums a 2x2 neighbourhood, multiplies the sum by a trainable
    coefficient, adds a trainable bias (one of each per map) and squashes the result."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        summed = F.avg_pool2d(x, SUBSAMPLE, divisor_override=1)  # sum of the 2x2 inputs
        return TANH_A * torch.tanh(
            TANH_S * (summed * self.weight[:, None, None] + self.bias[:, None, None])
        )


class ConnectionTableConv2d(nn.Module):
    """A convolution whose output maps each see only a subset of the input maps (Table I).

    The output maps are grouped by how many inputs they take; each group gathers its input maps by
    index and runs one grouped convolution (``groups`` = maps in the group), so no weight is masked
    and the trainable parameters are exactly the table's. The group outputs are put back in table
    order. For Table I: ``Conv2d(18, 6, 5, groups=6)``, ``Conv2d(36, 9, 5, groups=9)`` and
    ``Conv2d(6, 1, 5)``.

    Args:
        table: for each output map, the indices of the input maps it takes.
        kernel_size: the square kernel of every connection.
    """

    def __init__(self, table: tuple[tuple[int, ...], ...], kernel_size: int) -> None:
        super().__init__()
        self.table = table
        self.branches = nn.ModuleList()
        order: list[int] = []  # output map of each concatenated branch channel
        for fan in sorted({len(inputs) for inputs in table}):
            maps = [j for j, inputs in enumerate(table) if len(inputs) == fan]
            index = torch.tensor([i for j in maps for i in table[j]])
            self.branches.append(_GatherConv2d(index, len(maps), kernel_size))
            order += maps
        # Branch channel k is output map order[k]; invert to read the maps back in table order
        # (for Table I the branches already come out in order, so nothing is permuted).
        inverse = sorted(range(len(order)), key=order.__getitem__)
        reorder = None if order == sorted(order) else torch.tensor(inverse)
        self.register_buffer("inverse_order", reorder, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([branch(x) for branch in self.branches], dim=1)
        if self.inverse_order is not None:
            out = out.index_select(1, self.inverse_order)
        return out


class _GatherConv2d(nn.Module):
    """Gather input maps by index, then convolve each run of ``fan`` maps into one output map."""

    def __init__(self, index: torch.Tensor, maps: int, kernel_size: int) -> None:
        super().__init__()
        self.register_buffer("index", index, persistent=False)
        self.conv = nn.Conv2d(len(index), maps, kernel_size, groups=maps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.index_select(1, self.index))


class EuclideanRBF(nn.Module):
    """Output layer of Sec. II-B (Eq. 7): ``y_i = sum_j (x_j - w_ij)^2`` with fixed ``w_i``.

    Returns ``-y`` (see the module's deviations). The parameter vectors are a buffer, never trained.
    """

    def __init__(self, prototypes: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("prototypes", prototypes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -(x.unsqueeze(1) - self.prototypes).pow(2).sum(dim=-1)  # N x num_classes


def rbf_prototypes(num_classes: int) -> torch.Tensor:
    """The +1/-1 parameter vectors of the RBF units, ``num_classes x 84``.

    The Fig. 3 digit bitmaps for ten classes; otherwise a fixed seeded random code.
    """
    if num_classes == len(DIGIT_BITMAPS):
        rows = ["".join(bitmap) for bitmap in DIGIT_BITMAPS]
        return torch.tensor([[1.0 if c == "#" else -1.0 for c in row] for row in rows])
    generator = torch.Generator().manual_seed(RANDOM_CODE_SEED)
    bits = torch.randint(0, 2, (num_classes, F6_UNITS), generator=generator)
    return bits.float() * 2 - 1


def make_output(variant: LeNetVariant, num_classes: int) -> nn.Module:
    """The output layer: fixed Euclidean RBF units (Sec. II-B) or a linear layer from F6."""
    if variant.rbf_output:
        return EuclideanRBF(rbf_prototypes(num_classes))
    return nn.Linear(F6_UNITS, num_classes)


class LeNet5(ZooModel):
    """LeNet-5 of Sec. II-B / Fig. 2, as published or as the ReLU rendition.

    Takes exactly 32x32 inputs, or 28x28 ones that it zero-pads to 32x32.

    Args:
        variant: :data:`ORIGINAL` or :data:`RENDITION`.
        num_classes: classifier outputs.
        in_chans: input channels.
    """

    def __init__(self, variant: LeNetVariant, *, num_classes: int = 10, in_chans: int = 1) -> None:
        super().__init__(
            num_classes=num_classes,
            in_chans=in_chans,
            min_input_size=MNIST_SIZE,  # padded to 32; below it C5 sees less than 5x5
            fixed_input_sizes=(MNIST_SIZE, INPUT_SIZE),
        )
        self.variant = variant
        act = nn.ReLU if variant.relu else ScaledTanh

        def subsampling(channels: int) -> nn.Module:
            if variant.trainable_subsampling:
                return Subsampling(channels)
            return nn.MaxPool2d(SUBSAMPLE)

        if variant.c3_table is None:
            c3: nn.Module = nn.Conv2d(C1_MAPS, C3_MAPS, KERNEL)
        else:
            c3 = ConnectionTableConv2d(variant.c3_table, KERNEL)
        self.features = nn.Sequential(
            OrderedDict(
                c1=nn.Conv2d(in_chans, C1_MAPS, KERNEL),  # N x 6 x 28 x 28
                act1=act(),
                s2=subsampling(C1_MAPS),  # N x 6 x 14 x 14
                c3=c3,  # N x 16 x 10 x 10
                act3=act(),
                s4=subsampling(C3_MAPS),  # N x 16 x 5 x 5
                c5=nn.Conv2d(C3_MAPS, C5_MAPS, KERNEL),  # N x 120 x 1 x 1
                act5=act(),
            )
        )
        self.f6 = nn.Linear(C5_MAPS, F6_UNITS)
        self.act6 = act()
        self.num_features = F6_UNITS
        self.output = make_output(variant, num_classes)
        init_weights(self, relu=variant.relu)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == MNIST_SIZE:
            pad = (INPUT_SIZE - MNIST_SIZE) // 2
            x = F.pad(x, (pad, pad, pad, pad))  # N x C x 32 x 32
        return self.features(x)  # N x 120 x 1 x 1

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """F6 and the output layer; ``pre_logits``: the activated 84-d F6 output."""
        x = self.act6(self.f6(torch.flatten(x, 1)))  # N x 84
        return x if pre_logits else self.output(x)

    def reset_classifier(self, num_classes: int) -> None:
        """A new output layer for ``num_classes``: the RBF units with
        ``rbf_prototypes(num_classes)``, or a linear layer with the family's init."""
        self.output = make_output(self.variant, num_classes).to(self.f6.weight)  # device, dtype
        init_weights(self.output, relu=self.variant.relu)
        self.num_classes = num_classes


def init_weights(model: nn.Module, *, relu: bool) -> None:
    """Uniform init scaled by each unit's fan-in ``F``.

    The published network (``relu=False``): weights and biases uniform in ``+-2.4 / F`` (LeCun et
    al. 1998, Appendix A); a subsampling unit has ``F = 4`` inputs. The ReLU rendition: He et al.
    2015 uniform weights ``+-sqrt(6 / F)`` and zero biases. The RBF vectors are fixed, not init.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            fan_in = m.weight[0].numel()
        elif isinstance(m, Subsampling):
            fan_in = SUBSAMPLE * SUBSAMPLE
        else:
            continue
        bound = (6 / fan_in) ** 0.5 if relu else INIT_RANGE / fan_in
        nn.init.uniform_(m.weight, -bound, bound)
        if relu:
            nn.init.zeros_(m.bias)
        else:
            nn.init.uniform_(m.bias, -bound, bound)


def lenet5(**kwargs) -> LeNet5:
    """The modern rendition: ReLU, 2x2 max-pooling, dense C3, linear output."""
    return LeNet5(RENDITION, **kwargs)


def lenet5_original(**kwargs) -> LeNet5:
    """LeNet-5 as published: Table I C3, trainable subsampling, scaled tanh, fixed RBF output."""
    return LeNet5(ORIGINAL, **kwargs)


MODELS = tuple(
    ModelSpec(
        fn.__name__,
        fn,
        family="lenet",
        paper=PAPER,
        year=1998,
        input_size=(1, 32, 32),
        num_classes=10,
    )
    for fn in (lenet5, lenet5_original)
)
