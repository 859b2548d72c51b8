"""Inception-v4 and Inception-ResNet: the Impact of Residual Connections on Learning.

Szegedy, Ioffe, Vanhoucke & Alemi, AAAI 2017, https://arxiv.org/abs/1602.07261

Three networks on 299x299 inputs share one builder:

- ``inception_v4`` (Fig. 9): the stem of Fig. 3, 4 x Inception-A (Fig. 4), Reduction-A (Fig. 7),
  7 x Inception-B (Fig. 5), Reduction-B (Fig. 8), 3 x Inception-C (Fig. 6).
- ``inception_resnet_v1`` (Fig. 15): the stem of Fig. 14, 5 x Inception-ResNet-A (Fig. 10),
  Reduction-A, 10 x Inception-ResNet-B (Fig. 11), Reduction-B (Fig. 12), 5 x Inception-ResNet-C
  (Fig. 13).
- ``inception_resnet_v2``: by default TF-slim's network (see below); ``layout="paper"`` builds
  Fig. 15 with the stem of Fig. 3 and the blocks of Figs. 16-19.

Every block is a table: a tuple of branches, each a tuple of convolutions and poolings applied in
order, concatenated along channels (:class:`Mixed`). An Inception-ResNet block feeds the
concatenation to a "1x1 Conv (Linear)" back to its input width, scales it by the residual scaling
factor (Sec. 3.3) and adds it to its input, then applies a ReLU (Figs. 10-13, 16-19). Reduction-A
is one function of the k, l, m, n filter numbers of Table 1. Convolutions marked "V" in the figures
are valid-padded, all others same-padded (Sec. 3.1).

Deviations from the paper:
- ``inception_resnet_v2`` (default, ``layout="tf_slim"``) is the network the authors released in
  TF-slim (``inception_resnet_v2.py``, the ImageNet checkpoint, timm's ``inception_resnet_v2``), so
  that its size matches the reference count. It differs from the paper's figures in:
  the stem is Inception-v3's (3x3/2 32 V, 3x3 32 V, 3x3 64, 3x3/2 max-pool V, 1x1 80, 3x3 192 V,
  3x3/2 max-pool V: 192 x 35 x 35) followed by an Inception-v3-style "Mixed_5b" block to 320
  channels, instead of Fig. 3's stem (384 x 35 x 35); 10 / 20 / 10 Inception-ResNet-A / B / C
  blocks instead of Fig. 15's 5 / 10 / 5; block widths therefore 320, 1088 (= 320 + 384 + 384)
  and 2080 (= 1088 + 384 + 288 + 320) instead of 384, 1152 and 2144; the last Inception-ResNet-C
  block has no ReLU and a residual scale of 1; a 1x1 convolution to 1536 channels (TF-slim's
  ``Conv2d_7b_1x1``) precedes the average pooling. The branches of every block are those of
  Figs. 16-19 and the Reduction-A filters those of Table 1.
- ``inception_resnet_v2(layout="paper")`` follows Figs. 3, 15-19, except that Figs. 17 and 19 print
  "1x1 Conv (1154 Linear)" and "1x1 Conv (2048 Linear)", which cannot be added to their inputs of
  1152 (Reduction-A: 384 + 384 + 384) and 2144 (Reduction-B: 1152 + 384 + 288 + 320) channels: the
  linear convolutions project to the block's input width, 1152 and 2144.
- Batch normalisation (eps 0.001, as TF-slim) after every convolution but the residual blocks'
  "1x1 Conv (Linear)", which has a bias and no batch norm, as in TF-slim ("batch-normalization only
  on top of the traditional layers, but not on top of the summations", Sec. 3.2).
- The residual scaling factor (``residual_scale``) defaults to TF-slim's per-block-type values,
  0.17 / 0.10 / 0.20 for Inception-ResNet-A / B / C (Sec. 3.3 gives only the range 0.1 to 0.3);
  one float sets all three.
- The order of the branches in each concatenation (the channel order) and of each 1xn / nx1 pair
  within a branch follow TF-slim; a kernel "1x7" is 1 row by 7 columns. Neither changes a count.
- The 3x3 average poolings of Inception-A/B/C are same-padded and exclude the padding from the
  average (TensorFlow's "SAME" pooling); the final 8x8 average pooling (Figs. 9, 15) is adaptive,
  so that smaller inputs work; the smallest input is 75x75.
- The paper gives no weight initialisation; He et al. 2015 (TF-slim's variance scaling) is used.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import torch
from torch import nn

from cnnzoo.models.base import ModelSpec, ZooModel
from cnnzoo.models.layers import ConvNormAct, fresh_linear

PAPER = "Szegedy et al. 2017, arXiv:1602.07261"

BN_EPS = 0.001  # TF-slim's batch norm epsilon
DROPOUT = 0.2  # Figs. 9 and 15: "Dropout (keep 0.8)"
# Sec. 3.3: residuals scaled by 0.1 to 0.3; TF-slim's values for blocks A, B, C.
TF_SLIM_SCALES = (0.17, 0.10, 0.20)
POOL_KERNEL = 3  # every pooling of the figures is 3x3


# Configuration tables: the layers of a block -----------------------------------------------------


class Conv(NamedTuple):
    """A convolution of a figure, "``kernel`` Conv (``out`` [stride ``stride``] [V])", with
    batch norm and ReLU. ``valid``: the figures' "V", no padding; otherwise same-padded."""

    out: int
    kernel: int | tuple[int, int]
    stride: int = 1
    valid: bool = False

    @property
    def kernel_hw(self) -> tuple[int, int]:
        return (self.kernel, self.kernel) if isinstance(self.kernel, int) else self.kernel

    @property
    def padding(self) -> tuple[int, int]:
        return (0, 0) if self.valid else (self.kernel_hw[0] // 2, self.kernel_hw[1] // 2)

    def out_channels(self, in_channels: int) -> int:
        return self.out

    def min_input(self, out_size: int) -> int:
        """The smallest input side that gives ``out_size``: (in + 2p - k) // s + 1 >= out."""
        pairs = zip(self.kernel_hw, self.padding, strict=True)
        return max((out_size - 1) * self.stride + k - 2 * p for k, p in pairs)


class Pool(NamedTuple):
    """A 3x3 pooling ("max" or "avg"); ``valid`` as for :class:`Conv`."""

    kind: str
    stride: int = 1
    valid: bool = False

    @property
    def padding(self) -> int:
        return 0 if self.valid else POOL_KERNEL // 2

    def out_channels(self, in_channels: int) -> int:
        return in_channels

    def min_input(self, out_size: int) -> int:
        return (out_size - 1) * self.stride + POOL_KERNEL - 2 * self.padding


class Mixed(NamedTuple):
    """Parallel branches on one input, concatenated along channels in order. A branch is a
    tuple of :class:`Conv`, :class:`Pool` or nested :class:`Mixed` (a fork, Fig. 6) layers."""

    branches: tuple[tuple[Conv | Pool | Mixed, ...], ...]

    def out_channels(self, in_channels: int) -> int:
        total = 0
        for branch in self.branches:
            channels = in_channels
            for layer in branch:
                channels = layer.out_channels(channels)
            total += channels
        return total

    def min_input(self, out_size: int) -> int:
        sizes = []
        for branch in self.branches:
            size = out_size
            for layer in reversed(branch):
                size = layer.min_input(size)
            sizes.append(size)
        return max(sizes)


Layer = Conv | Pool | Mixed


def fork(*convs: Conv) -> Mixed:
    """Convolutions on the same input, concatenated: the split tops of Fig. 6 and Fig. 19."""
    return Mixed(tuple((conv,) for conv in convs))


MAX_POOL = Pool("max", stride=2, valid=True)  # "3x3 MaxPool (stride 2 V)" (Figs. 3, 7, 8, 14)
AVG_POOL = Pool("avg")  # "Avg Pooling" (Figs. 4-6): 3x3, stride 1, same size


class ReductionA(NamedTuple):
    """Table 1: the filter numbers of Reduction-A (Fig. 7) in each network."""

    k: int  # 1x1
    l: int  # 3x3  # noqa: E741 (the paper's name)
    m: int  # 3x3/2 V, after the 1x1 k and 3x3 l
    n: int  # 3x3/2 V, alone

    def block(self) -> Mixed:
        """Fig. 7: 3x3/2 n V | 1x1 k -> 3x3 l -> 3x3/2 m V | 3x3/2 max-pool V."""
        return Mixed(
            (
                (Conv(self.n, 3, 2, valid=True),),
                (Conv(self.k, 1), Conv(self.l, 3), Conv(self.m, 3, 2, valid=True)),
                (MAX_POOL,),
            )
        )


TABLE1 = {
    "inception_v4": ReductionA(k=192, l=224, m=256, n=384),
    "inception_resnet_v1": ReductionA(k=192, l=192, m=256, n=384),
    "inception_resnet_v2": ReductionA(k=256, l=256, m=384, n=384),
}

# Inception-v4 ------------------------------------------------------------------------------------

# Fig. 3: the stem of Inception-v4 and Inception-ResNet-v2 (paper layout); sizes at 299 x 299.
STEM_V4: tuple[tuple[str, Layer], ...] = (
    ("conv1a", Conv(32, 3, 2, valid=True)),  # 32 x 149 x 149
    ("conv2a", Conv(32, 3, valid=True)),  # 32 x 147 x 147
    ("conv2b", Conv(64, 3)),  # 64 x 147 x 147
    ("mixed3a", Mixed(((MAX_POOL,), (Conv(96, 3, 2, valid=True),)))),  # 160 x 73 x 73
    (
        "mixed4a",
        Mixed(
            (
                (Conv(64, 1), Conv(96, 3, valid=True)),
                (Conv(64, 1), Conv(64, (1, 7)), Conv(64, (7, 1)), Conv(96, 3, valid=True)),
            )
        ),
    ),  # 192 x 71 x 71
    ("mixed5a", Mixed(((Conv(192, 3, 2, valid=True),), (MAX_POOL,)))),  # 384 x 35 x 35
)

INCEPTION_A = Mixed(
    (
        (Conv(96, 1),),
        (Conv(64, 1), Conv(96, 3)),
        (Conv(64, 1), Conv(96, 3), Conv(96, 3)),
        (AVG_POOL, Conv(96, 1)),
    )
)  # Fig. 4: 384 -> 96 + 96 + 96 + 96 = 384

INCEPTION_B = Mixed(
    (
        (Conv(384, 1),),
        (Conv(192, 1), Conv(224, (1, 7)), Conv(256, (7, 1))),
        (Conv(192, 1), Conv(192, (7, 1)), Conv(224, (1, 7)), Conv(224, (7, 1)), Conv(256, (1, 7))),
        (AVG_POOL, Conv(128, 1)),
    )
)  # Fig. 5: 1024 -> 384 + 256 + 256 + 128 = 1024

REDUCTION_B_V4 = Mixed(
    (
        (Conv(192, 1), Conv(192, 3, 2, valid=True)),
        (Conv(256, 1), Conv(256, (1, 7)), Conv(320, (7, 1)), Conv(320, 3, 2, valid=True)),
        (MAX_POOL,),
    )
)  # Fig. 8: 1024 -> 192 + 320 + 1024 = 1536, 17 -> 8

INCEPTION_C = Mixed(
    (
        (Conv(256, 1),),
        (Conv(384, 1), fork(Conv(256, (1, 3)), Conv(256, (3, 1)))),
        (
            Conv(384, 1),
            Conv(448, (3, 1)),
            Conv(512, (1, 3)),
            fork(Conv(256, (1, 3)), Conv(256, (3, 1))),
        ),
        (AVG_POOL, Conv(256, 1)),
    )
)  # Fig. 6: 1536 -> 256 + 512 + 512 + 256 = 1536

# Inception-ResNet-v1 -----------------------------------------------------------------------------

# Fig. 14: the stem of Inception-ResNet-v1; sizes at 299 x 299.
STEM_RESNET_V1: tuple[tuple[str, Layer], ...] = (
    ("conv1a", Conv(32, 3, 2, valid=True)),  # 32 x 149 x 149
    ("conv2a", Conv(32, 3, valid=True)),  # 32 x 147 x 147
    ("conv2b", Conv(64, 3)),  # 64 x 147 x 147
    ("maxpool3a", MAX_POOL),  # 64 x 73 x 73
    ("conv3b", Conv(80, 1)),  # 80 x 73 x 73
    ("conv4a", Conv(192, 3, valid=True)),  # 192 x 71 x 71
    ("conv4b", Conv(256, 3, 2, valid=True)),  # 256 x 35 x 35
)

RESNET_A_V1 = Mixed(
    (
        (Conv(32, 1),),
        (Conv(32, 1), Conv(32, 3)),
        (Conv(32, 1), Conv(32, 3), Conv(32, 3)),
    )
)  # Fig. 10: 96 channels, then "1x1 Conv (256 Linear)"

RESNET_B_V1 = Mixed(
    (
        (Conv(128, 1),),
        (Conv(128, 1), Conv(128, (1, 7)), Conv(128, (7, 1))),
    )
)  # Fig. 11: 256 channels, then "1x1 Conv (896 Linear)"

REDUCTION_B_RESNET_V1 = Mixed(
    (
        (Conv(256, 1), Conv(384, 3, 2, valid=True)),
        (Conv(256, 1), Conv(256, 3, 2, valid=True)),
        (Conv(256, 1), Conv(256, 3), Conv(256, 3, 2, valid=True)),
        (MAX_POOL,),
    )
)  # Fig. 12: 896 -> 384 + 256 + 256 + 896 = 1792, 17 -> 8

RESNET_C_V1 = Mixed(
    (
        (Conv(192, 1),),
        (Conv(192, 1), Conv(192, (1, 3)), Conv(192, (3, 1))),
    )
)  # Fig. 13: 384 channels, then "1x1 Conv (1792 Linear)"

# Inception-ResNet-v2 -----------------------------------------------------------------------------

# TF-slim's stem (Inception-v3's, then "Mixed_5b"), not Fig. 3; sizes at 299 x 299.
STEM_RESNET_V2_TF_SLIM: tuple[tuple[str, Layer], ...] = (
    ("conv1a", Conv(32, 3, 2, valid=True)),  # 32 x 149 x 149
    ("conv2a", Conv(32, 3, valid=True)),  # 32 x 147 x 147
    ("conv2b", Conv(64, 3)),  # 64 x 147 x 147
    ("maxpool3a", MAX_POOL),  # 64 x 73 x 73
    ("conv3b", Conv(80, 1)),  # 80 x 73 x 73
    ("conv4a", Conv(192, 3, valid=True)),  # 192 x 71 x 71
    ("maxpool5a", MAX_POOL),  # 192 x 35 x 35
    (
        "mixed5b",
        Mixed(
            (
                (Conv(96, 1),),
                (Conv(48, 1), Conv(64, 5)),
                (Conv(64, 1), Conv(96, 3), Conv(96, 3)),
                (AVG_POOL, Conv(64, 1)),
            )
        ),
    ),  # 320 x 35 x 35
)
TF_SLIM_FINAL_CONV = 1536  # TF-slim's Conv2d_7b_1x1 before the average pooling

RESNET_A_V2 = Mixed(
    (
        (Conv(32, 1),),
        (Conv(32, 1), Conv(32, 3)),
        (Conv(32, 1), Conv(48, 3), Conv(64, 3)),
    )
)  # Fig. 16: 128 channels, then "1x1 Conv (384 Linear)"

RESNET_B_V2 = Mixed(
    (
        (Conv(192, 1),),
        (Conv(128, 1), Conv(160, (1, 7)), Conv(192, (7, 1))),
    )
)  # Fig. 17: 384 channels, then "1x1 Conv (1154 Linear)" (see the deviations)

REDUCTION_B_RESNET_V2 = Mixed(
    (
        (Conv(256, 1), Conv(384, 3, 2, valid=True)),
        (Conv(256, 1), Conv(288, 3, 2, valid=True)),
        (Conv(256, 1), Conv(288, 3), Conv(320, 3, 2, valid=True)),
        (MAX_POOL,),
    )
)  # Fig. 18: in + 384 + 288 + 320, 17 -> 8

RESNET_C_V2 = Mixed(
    (
        (Conv(192, 1),),
        (Conv(192, 1), Conv(224, (1, 3)), Conv(256, (3, 1))),
    )
)  # Fig. 19: 448 channels, then "1x1 Conv (2048 Linear)" (see the deviations)


# Configuration tables: the networks --------------------------------------------------------------


class Stage(NamedTuple):
    """``repeats`` copies of ``block`` under the attribute ``name``.

    ``residual``: Inception-ResNet blocks (branches -> 1x1 linear conv -> scaled sum -> ReLU).
    ``last_linear``: the last block has residual scale 1 and no ReLU (TF-slim's final block).
    """

    name: str
    block: Mixed
    repeats: int = 1
    residual: bool = False
    last_linear: bool = False


@dataclass(frozen=True)
class Layout:
    """A whole network: named stem layers, the stages, the default residual scale of each
    residual stage in order, and the width of an optional final 1x1 convolution (0: none)."""

    stem: tuple[tuple[str, Layer], ...]
    stages: tuple[Stage, ...]
    residual_scale: tuple[float, ...] = ()
    final_conv: int = 0

    def min_input_size(self) -> int:
        """The smallest input side: walk back from a 1x1 output through every layer. Each
        valid 3x3/2 layer needs 2n + 1 inputs for n outputs, each valid 3x3/1 layer n + 2;
        75 for every layout here (checked by probing in the tests)."""
        units = [unit for _, unit in self.stem]
        units += [stage.block for stage in self.stages for _ in range(stage.repeats)]
        size = 1
        for unit in reversed(units):
            size = unit.min_input(size)
        return size


def _stages(
    reduction_a: ReductionA,
    blocks: tuple[Mixed, Mixed, Mixed],
    reduction_b: Mixed,
    repeats: tuple[int, int, int],
    *,
    residual: bool,
    last_linear: bool = False,
) -> tuple[Stage, ...]:
    """The five stages shared by every network (Figs. 9 and 15): A blocks, Reduction-A, B blocks,
    Reduction-B, C blocks."""
    prefix = "inception_resnet" if residual else "inception"
    (a, b, c), (n_a, n_b, n_c) = blocks, repeats
    return (
        Stage(f"{prefix}_a", a, n_a, residual),  # 35 x 35
        Stage("reduction_a", reduction_a.block()),  # 35 -> 17
        Stage(f"{prefix}_b", b, n_b, residual),  # 17 x 17
        Stage("reduction_b", reduction_b),  # 17 -> 8
        Stage(f"{prefix}_c", c, n_c, residual, last_linear),  # 8 x 8
    )


INCEPTION_V4 = Layout(
    stem=STEM_V4,
    stages=_stages(
        TABLE1["inception_v4"],
        (INCEPTION_A, INCEPTION_B, INCEPTION_C),
        REDUCTION_B_V4,
        repeats=(4, 7, 3),
        residual=False,
    ),  # Fig. 9: 4, 7, 3
)
INCEPTION_RESNET_V1 = Layout(
    stem=STEM_RESNET_V1,
    stages=_stages(
        TABLE1["inception_resnet_v1"],
        (RESNET_A_V1, RESNET_B_V1, RESNET_C_V1),
        REDUCTION_B_RESNET_V1,
        repeats=(5, 10, 5),
        residual=True,
    ),  # Fig. 15
    residual_scale=TF_SLIM_SCALES,
)
INCEPTION_RESNET_V2_LAYOUTS = {
    "tf_slim": Layout(
        stem=STEM_RESNET_V2_TF_SLIM,
        stages=_stages(
            TABLE1["inception_resnet_v2"],
            (RESNET_A_V2, RESNET_B_V2, RESNET_C_V2),
            REDUCTION_B_RESNET_V2,
            repeats=(10, 20, 10),
            residual=True,
            last_linear=True,
        ),  # TF-slim: 10, 20, 9 + 1 blocks
        residual_scale=TF_SLIM_SCALES,
        final_conv=TF_SLIM_FINAL_CONV,
    ),
    "paper": Layout(
        stem=STEM_V4,  # Fig. 3 caption: the stem of Inception-v4 and Inception-ResNet-v2
        stages=_stages(
            TABLE1["inception_resnet_v2"],
            (RESNET_A_V2, RESNET_B_V2, RESNET_C_V2),
            REDUCTION_B_RESNET_V2,
            repeats=(5, 10, 5),
            residual=True,
        ),  # Fig. 15
        residual_scale=TF_SLIM_SCALES,
    ),
}


# Building blocks ---------------------------------------------------------------------------------


def conv_layer(spec: Conv, in_channels: int) -> ConvNormAct:
    """Convolution, batch norm (eps 0.001), ReLU."""
    return ConvNormAct(in_channels, spec.out, spec.kernel, spec.stride, spec.padding, bn_eps=BN_EPS)


POOLS: dict[str, Callable[..., nn.Module]] = {
    "max": nn.MaxPool2d,
    "avg": partial(nn.AvgPool2d, count_include_pad=False),  # TensorFlow's "SAME" average
}


def pool_layer(spec: Pool, in_channels: int) -> nn.Module:
    """A 3x3 max- or average pooling."""
    return POOLS[spec.kind](POOL_KERNEL, spec.stride, spec.padding)


def make_layer(spec: Layer, in_channels: int) -> nn.Module:
    """The module of one table entry."""
    return LAYERS[type(spec)](spec, in_channels)


class MixedBlock(nn.Module):
    """Parallel branches ``branch0``, ``branch1``, ... on one input, concatenated (a
    :class:`Mixed` table entry). A branch of one layer is that layer; longer ones are
    ``nn.Sequential``."""

    def __init__(self, spec: Mixed, in_channels: int) -> None:
        super().__init__()
        self.num_branches = len(spec.branches)
        for i, branch in enumerate(spec.branches):
            layers, channels = [], in_channels
            for layer in branch:
                layers.append(make_layer(layer, channels))
                channels = layer.out_channels(channels)
            self.add_module(f"branch{i}", layers[0] if len(layers) == 1 else nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (getattr(self, f"branch{i}") for i in range(self.num_branches))
        return torch.cat([branch(x) for branch in branches], dim=1)


LAYERS: dict[type, Callable[[Layer, int], nn.Module]] = {
    Conv: conv_layer,
    Pool: pool_layer,
    Mixed: MixedBlock,
}


class InceptionResNetBlock(nn.Module):
    """An Inception-ResNet block (Figs. 10-13, 16-19): ``relu(x + scale * conv(branches(x)))``.

    Args:
        spec: the branches.
        in_channels: input (and output) channels.
        scale: the residual scaling factor (Sec. 3.3, Fig. 20).
        activation: apply the final ReLU (TF-slim's last block has none).
    """

    def __init__(
        self, spec: Mixed, in_channels: int, scale: float, *, activation: bool = True
    ) -> None:
        super().__init__()
        self.scale = scale
        self.branches = MixedBlock(spec, in_channels)
        # "1x1 Conv (Linear)": back to the input width; a bias and no batch norm (TF-slim).
        self.conv = nn.Conv2d(spec.out_channels(in_channels), in_channels, kernel_size=1)
        self.relu = nn.ReLU(inplace=True) if activation else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.scale * self.conv(self.branches(x)))


# The network -------------------------------------------------------------------------------------


class InceptionNet(ZooModel):
    """Inception-v4 or an Inception-ResNet: stem, five stages, pooling, dropout, classifier.

    Args:
        layout: :data:`INCEPTION_V4`, :data:`INCEPTION_RESNET_V1` or a value of
            :data:`INCEPTION_RESNET_V2_LAYOUTS`.
        num_classes: classifier outputs.
        in_chans: input channels.
        dropout: dropout probability before the classifier (Figs. 9, 15: keep 0.8).
        residual_scale: the residual scaling factor (Sec. 3.3): one float for every residual
            block, or one per residual stage (A, B, C); default: the layout's.

    Raises:
        ValueError: ``residual_scale`` for a network without residual blocks, or with the
            wrong number of values.
    """

    def __init__(
        self,
        layout: Layout,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        dropout: float = DROPOUT,
        residual_scale: float | Sequence[float] | None = None,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            in_chans=in_chans,
            min_input_size=layout.min_input_size(),  # 75 (see Layout.min_input_size)
        )
        scales = iter(_residual_scales(layout, residual_scale))

        stem, channels = OrderedDict(), in_chans
        for name, unit in layout.stem:
            stem[name] = make_layer(unit, channels)
            channels = unit.out_channels(channels)
        # N x 384 x 35 x 35 at 299 x 299 (Fig. 3; 256 by Fig. 14, 320 in TF-slim)
        self.stem = nn.Sequential(stem)
        self.trunk: tuple[str, ...] = ("stem",)  # the attribute names forward_features runs

        for stage in layout.stages:
            scale = next(scales) if stage.residual else 0.0
            blocks = []
            for i in range(stage.repeats):
                if not stage.residual:
                    blocks.append(MixedBlock(stage.block, channels))
                    channels = stage.block.out_channels(channels)
                    continue
                linear = stage.last_linear and i == stage.repeats - 1
                blocks.append(
                    InceptionResNetBlock(
                        stage.block, channels, 1.0 if linear else scale, activation=not linear
                    )
                )
            self.add_module(stage.name, nn.Sequential(*blocks))
            self.trunk += (stage.name,)
        # N x 1536 x 8 x 8 (Inception-v4), 1792 x 8 x 8 (Inception-ResNet-v1) at 299 x 299

        if layout.final_conv:
            self.conv7b = ConvNormAct(channels, layout.final_conv, 1, bn_eps=BN_EPS)
            self.trunk += ("conv7b",)
            channels = layout.final_conv
        self.num_features = channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # Figs. 9, 15: "Average Pooling", 8x8 at 299
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.trunk:
            x = getattr(self, name)(x)
        return x  # N x num_features x 8 x 8 at 299 x 299

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pooling, dropout, ``fc``; ``pre_logits``: the pooled vector ``fc`` reads (after the
        dropout, a no-op in eval mode)."""
        x = self.dropout(torch.flatten(self.avgpool(x), 1))  # N x num_features
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, num_classes: int) -> None:
        """A new ``fc`` for ``num_classes``, initialised by :func:`init_weights`."""
        fc = fresh_linear(self.fc, num_classes)
        init_weights(fc)
        self.fc = fc
        self.num_classes = num_classes


def _residual_scales(layout: Layout, residual_scale: float | Sequence[float] | None) -> tuple:
    """The scale of each residual stage: the layout's, or ``residual_scale`` checked."""
    count = sum(stage.residual for stage in layout.stages)
    if residual_scale is None:
        return layout.residual_scale
    if count == 0:
        raise ValueError("residual_scale: this network has no residual (Inception-ResNet) blocks")
    if isinstance(residual_scale, int | float):
        return (float(residual_scale),) * count
    scales = tuple(float(s) for s in residual_scale)
    if len(scales) != count:
        raise ValueError(
            f"residual_scale: expected one float or {count} (one per residual stage A, B, C), "
            f"got {len(scales)}"
        )
    return scales


def init_weights(model: nn.Module) -> None:
    """He et al. 2015 normal init (fan in, the variance scaling of TF-slim's
    ``inception_arg_scope``; the paper gives no scheme) for convolutions and the classifier,
    zero biases, unit batch-norm scale and zero shift."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# Builders ----------------------------------------------------------------------------------------


def inception_v4(**kwargs) -> InceptionNet:
    """Inception-v4 (Fig. 9); options of :class:`InceptionNet`."""
    return InceptionNet(INCEPTION_V4, **kwargs)


def inception_resnet_v1(**kwargs) -> InceptionNet:
    """Inception-ResNet-v1 (Figs. 10-15); options of :class:`InceptionNet`."""
    return InceptionNet(INCEPTION_RESNET_V1, **kwargs)


def inception_resnet_v2(*, layout: str = "tf_slim", **kwargs) -> InceptionNet:
    """Inception-ResNet-v2: ``layout="tf_slim"`` (the released network, default) or ``"paper"``
    (Figs. 3, 15-19); options of :class:`InceptionNet`."""
    if layout not in INCEPTION_RESNET_V2_LAYOUTS:
        raise ValueError(f"layout {layout!r}: choose from {sorted(INCEPTION_RESNET_V2_LAYOUTS)}")
    return InceptionNet(INCEPTION_RESNET_V2_LAYOUTS[layout], **kwargs)


MODELS = (
    ModelSpec(
        "inception_v4",
        inception_v4,
        family="inception",
        paper=PAPER,
        year=2016,
        input_size=(3, 299, 299),
        defaults={"dropout": DROPOUT},
    ),
    ModelSpec(
        "inception_resnet_v1",
        inception_resnet_v1,
        family="inception",
        paper=PAPER,
        year=2016,
        input_size=(3, 299, 299),
        defaults={"dropout": DROPOUT, "residual_scale": TF_SLIM_SCALES},
    ),
    ModelSpec(
        "inception_resnet_v2",
        inception_resnet_v2,
        family="inception",
        paper=PAPER,
        year=2016,
        input_size=(3, 299, 299),
        defaults={"layout": "tf_slim", "dropout": DROPOUT, "residual_scale": TF_SLIM_SCALES},
    ),
)
