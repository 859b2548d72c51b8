"""ResNet: Deep Residual Learning for Image Recognition, and the networks built on its blocks.

He, Zhang, Ren & Sun, CVPR 2016, https://arxiv.org/abs/1512.03385 (ImageNet ResNets of Table 1,
the plain baselines of Fig. 3 middle, the CIFAR-10 ResNets of Sec. 4.2). One configurable residual
unit covers the whole family:

- pre-activation units (BN-ReLU before each convolution, Fig. 4(e)) of He, Zhang, Ren & Sun,
  "Identity Mappings in Deep Residual Networks", ECCV 2016, https://arxiv.org/abs/1603.05027;
- grouped bottlenecks of ResNeXt: Xie, Girshick, Dollar, Tu & He, "Aggregated Residual
  Transformations for Deep Neural Networks", CVPR 2017, https://arxiv.org/abs/1611.05431
  (``cardinality`` groups of ``base_width`` channels, Fig. 3(c));
- wide networks: Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016,
  https://arxiv.org/abs/1605.07146: the CIFAR WRN-d-k of Table 1 (pre-activation basic units k
  times wider) and WRN-50-2-bottleneck (the 3x3 convolutions twice as wide, Sec. 3).

Deviations from the paper:
- Bottleneck units put the stride of a down-sampling unit in the 3x3 convolution ("ResNet v1.5",
  as torchvision and the ResNeXt paper do); ``stride_in_1x1=True`` restores the original placement
  in the first 1x1 convolution (Table 1: "down-sampling is performed by conv3_1, conv4_1 and
  conv5_1"). Both have the same parameters.
- Parameter names, shortcuts and the adaptive average pooling follow torchvision, so its
  checkpoints load unchanged; any input of at least 1x1 goes through. All ImageNet networks use
  projection shortcuts where the shape changes (option B, Sec. 3.3); the paper trained the
  18/34-layer networks of Table 2 with zero-padding shortcuts (option A): ``shortcut="A"``.
- The ImageNet wide networks are the bottleneck variants torchvision ships (WRN-50-2 /
  WRN-101-2). Grouped or widened ImageNet units need bottlenecks (as in torchvision); a ResNeXt
  basic unit is only a wider dense unit (Sec. 3.3).
- CIFAR WRN-d-k: the BN-ReLU that the first unit applies to the output of conv1 is the stem's
  ``bn1``/``relu`` (same function and parameters, the naming of the other pre-activation
  networks). Dropout between the convolutions (WRN Sec. 2.4, a variant) is not built.
- Pre-activation ImageNet networks keep the conv1-BN-ReLU-max-pool stem: its activation is the one
  "right after conv1 and before splitting into two paths" of the first unit, which therefore has
  no BN-ReLU of its own (the authors' fb.resnet.torch ``preresnet.lua`` does the same). A unit
  whose shortcut changes the shape takes the pre-activated input on both paths, as in the authors'
  code; the last unit is followed by an extra BN-ReLU (``final_bn``).
- Option A shortcuts (CIFAR) append the zero channels after the existing ones; the paper only says
  "padded with extra zero entries".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.models.base import ModelSpec, ZooModel
from cnnzoo.models.layers import fresh_linear

PAPER = "He et al. 2016, arXiv:1512.03385"
PAPER_PREACT = "He et al. 2016b, arXiv:1603.05027"
PAPER_RESNEXT = "Xie et al. 2017, arXiv:1611.05431"
PAPER_WIDE = "Zagoruyko & Komodakis 2016, arXiv:1605.07146"


class BlockType(NamedTuple):
    """The convolutions of one residual branch.

    ``kernels``: kernel size of each convolution in order; ``expansion``: output channels of the
    unit divided by its ``planes``. Every convolution but the last has the unit's inner width.
    """

    kernels: tuple[int, ...]
    expansion: int


BASIC = BlockType(kernels=(3, 3), expansion=1)  # Fig. 5 left: two 3x3 convolutions
BOTTLENECK = BlockType(kernels=(1, 3, 1), expansion=4)  # Fig. 5 right: 1x1 reduce, 3x3, 1x1 x4


class Stage(NamedTuple):
    """One row of a stage table: ``blocks`` units of width ``planes``; the first has ``stride``."""

    blocks: int
    planes: int
    stride: int


class Stem(NamedTuple):
    """The layers before the first stage: a ``kernel`` x ``kernel`` / ``stride`` convolution to
    ``width`` channels with BN-ReLU, then a 3x3/2 max-pool if ``pool``."""

    width: int
    kernel: int
    stride: int
    pool: bool


# Table 1, conv1: 7x7, 64, stride 2, then 3x3 max pool, stride 2.
IMAGENET_STEM = Stem(width=64, kernel=7, stride=2, pool=True)
# Sec. 4.2: "The first layer is 3x3 convolutions" with 16 filters; no pooling.
CIFAR_STEM = Stem(width=16, kernel=3, stride=1, pool=False)

# Table 1: planes of conv2_x .. conv5_x; conv2_x follows the max-pool, conv3_1, conv4_1 and
# conv5_1 down-sample with stride 2.
IMAGENET_PLANES = (64, 128, 256, 512)
IMAGENET_STRIDES = (1, 2, 2, 2)

# Table 1: unit type and number of units in conv2_x .. conv5_x for each depth.
IMAGENET_DEPTHS: dict[int, tuple[BlockType, tuple[int, int, int, int]]] = {
    18: (BASIC, (2, 2, 2, 2)),
    34: (BASIC, (3, 4, 6, 3)),
    50: (BOTTLENECK, (3, 4, 6, 3)),
    101: (BOTTLENECK, (3, 4, 23, 3)),
    152: (BOTTLENECK, (3, 8, 36, 3)),
}

# Sec. 4.2: three stages on maps of 32, 16, 8 with {16, 32, 64} filters, subsampling by
# stride-2 convolutions; n basic units per stage, 6n + 2 weighted layers.
CIFAR_PLANES = (16, 32, 64)
CIFAR_STRIDES = (1, 2, 2)
CIFAR_DEPTHS = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18}  # depth -> n (Sec. 4.2, Table 6)

# WRN Table 1: conv1 3x3 with 16 filters, then groups conv2-conv4 of N units on maps of 32, 16,
# 8 with 16k, 32k, 64k filters (k the widening factor); depth d = 6N + 4.
WIDE_PLANES = (16, 32, 64)


def imagenet_stages(depth: int) -> tuple[BlockType, tuple[Stage, ...]]:
    """The unit type and stage table of the ImageNet ResNet of ``depth`` layers (Table 1)."""
    block, counts = IMAGENET_DEPTHS[depth]
    rows = zip(counts, IMAGENET_PLANES, IMAGENET_STRIDES, strict=True)
    return block, tuple(Stage(*row) for row in rows)


def cifar_stages(depth: int) -> tuple[Stage, ...]:
    """The stage table of the CIFAR-10 ResNet of ``depth`` = 6n + 2 layers (Sec. 4.2)."""
    n = CIFAR_DEPTHS[depth]
    return tuple(
        Stage(n, planes, stride) for planes, stride in zip(CIFAR_PLANES, CIFAR_STRIDES, strict=True)
    )


def wide_stages(depth: int, k: int) -> tuple[Stage, ...]:
    """The stage table of the CIFAR WRN-``depth``-``k`` (WRN Table 1)."""
    n, rest = divmod(depth - 4, 6)
    if rest or n < 1:
        raise ValueError(f"a WRN's depth is 6N + 4 with N >= 1, got {depth}")
    rows = zip(WIDE_PLANES, CIFAR_STRIDES, strict=True)
    return tuple(Stage(n, planes * k, stride) for planes, stride in rows)


class ZeroPadShortcut(nn.Module):
    """Option A shortcut (Sec. 3.3): identity, subsampled by ``stride`` and padded with zero
    channels up to ``out_chans``; no parameters."""

    def __init__(self, in_chans: int, out_chans: int, stride: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, out_chans - in_chans

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # same size as the stride-s 3x3 conv's output
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


def projection(in_chans: int, out_chans: int, stride: int) -> nn.Sequential:
    """Option B/C shortcut (Sec. 3.3, Eqn. 2): 1x1 convolution with ``stride``, then BN."""
    return nn.Sequential(
        nn.Conv2d(in_chans, out_chans, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_chans),
    )


def bare_projection(in_chans: int, out_chans: int, stride: int) -> nn.Conv2d:
    """WRN's shortcut where the shape changes: a 1x1 convolution with ``stride`` and no BN (its
    pre-activation units normalise the input both paths share; the 1x1 layers are counted in
    the depth d = 6N + 4, Table 1)."""
    return nn.Conv2d(in_chans, out_chans, kernel_size=1, stride=stride, bias=False)


# Sec. 3.3 shortcut options: A zero-pads where the shape changes, B projects where it changes,
# C projects everywhere; "none" is the plain network of Fig. 3 (middle): no shortcuts at all;
# "conv" projects where the shape changes without BN (WRN).
SHORTCUTS = {"A": ZeroPadShortcut, "B": projection, "C": projection, "none": None,
             "conv": bare_projection}  # fmt: skip


class ResidualUnit(nn.Module):
    """One residual unit, configured by its :class:`BlockType` and options.

    Submodules ``conv1``, ``bn1``, ``conv2``, ``bn2`` (, ``conv3``, ``bn3``), ``relu`` and
    ``downsample`` carry torchvision's names. In a post-activation unit (the original, Fig. 5)
    ``bn_i`` follows ``conv_i``; in a pre-activation unit (He et al. 2016b, Fig. 4(e)) ``bn_i``
    precedes ``conv_i``.

    Args:
        block: the branch's convolutions.
        in_chans: input channels.
        planes: the unit's width; it outputs ``planes * block.expansion`` channels.
        stride: stride of the unit (1, or 2 for the first unit of a down-sampling stage).
        cardinality: groups of the 3x3 convolution of a bottleneck (ResNeXt, Sec. 3.3).
        base_width: channels per group at ``planes`` = 64 (ResNeXt's ``d``; 128 for WRN-50-2).
        stride_in_1x1: put the stride in the first convolution (v1) instead of the first 3x3.
        shortcut: ``"A"``, ``"B"``, ``"C"``, ``"none"`` or ``"conv"`` (see :data:`SHORTCUTS`).
        preact: pre-activation unit.
        first_activation_shared: pre-activation unit whose input is already activated by the stem,
            so it has no BN-ReLU before its first convolution (He et al. 2016b).
    """

    def __init__(
        self,
        block: BlockType,
        in_chans: int,
        planes: int,
        stride: int = 1,
        *,
        cardinality: int = 1,
        base_width: int = 64,
        stride_in_1x1: bool = False,
        shortcut: str = "B",
        preact: bool = False,
        first_activation_shared: bool = False,
    ) -> None:
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {sorted(SHORTCUTS)}, got {shortcut!r}")
        if block != BOTTLENECK and (cardinality != 1 or base_width != 64):
            raise ValueError("cardinality and base_width need bottleneck units")
        out_chans = planes * block.expansion
        # ResNeXt Table 1 / Sec. 3.3: the grouped width is C x d, doubling with each stage.
        width = int(planes * base_width / 64) * cardinality
        widths = [width] * (len(block.kernels) - 1) + [out_chans]
        stride_at = 0 if stride_in_1x1 else block.kernels.index(3)
        self.num_convs, self.preact = len(block.kernels), preact
        self.own_preactivation = preact and not first_activation_shared
        chans = in_chans
        for i, (kernel, out) in enumerate(zip(block.kernels, widths, strict=True), start=1):
            conv = nn.Conv2d(
                chans,
                out,
                kernel,
                stride=stride if i - 1 == stride_at else 1,
                padding=kernel // 2,
                groups=cardinality if kernel > 1 else 1,
                bias=False,  # Sec. 3.4: BN right after each convolution replaces the bias
            )
            setattr(self, f"conv{i}", conv)
            if i > 1 or self.own_preactivation or not preact:
                setattr(self, f"bn{i}", nn.BatchNorm2d(chans if preact else out))
            chans = out
        self.relu = nn.ReLU(inplace=True)
        factory = SHORTCUTS[shortcut]
        reshapes = stride != 1 or in_chans != out_chans
        if factory is None:
            self.residual, self.downsample = False, None
        elif reshapes or shortcut == "C":
            self.residual, self.downsample = True, factory(in_chans, out_chans, stride)
        else:
            self.residual, self.downsample = True, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward_preact(x) if self.preact else self._forward_postact(x)

    def _forward_postact(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for i in range(1, self.num_convs + 1):
            out = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(out))
            if i < self.num_convs:
                out = self.relu(out)
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)  # Fig. 2: ReLU after the addition

    def _forward_preact(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(x)) if self.own_preactivation else x
        # A shortcut that changes the shape sees the activated input, like the branch.
        shortcut = x if self.downsample is None else self.downsample(out)
        for i in range(1, self.num_convs + 1):
            if i > 1:
                out = self.relu(getattr(self, f"bn{i}")(out))
            out = getattr(self, f"conv{i}")(out)
        return out + shortcut if self.residual else out  # Fig. 4(e): nothing after the addition


class ResNet(ZooModel):
    """A residual network: a stem, one ``layer{i}`` per row of ``stages``, global average pooling
    and a fully connected classifier (Table 1; Sec. 4.2 for the CIFAR layout).

    Args:
        block: the unit type of every stage (:data:`BASIC` or :data:`BOTTLENECK`).
        stages: the stage table, one :class:`Stage` per ``layer{i}``.
        stem: the layers before the first stage.
        num_classes: classifier outputs.
        in_chans: input channels.
        cardinality: ResNeXt groups of the bottleneck's 3x3 convolution.
        base_width: ResNeXt channels per group at 64 planes (128 for WRN-50-2).
        stride_in_1x1: original v1 stride placement (first 1x1 of a bottleneck).
        shortcut: ``"A"``, ``"B"``, ``"C"`` (Sec. 3.3), ``"none"`` (plain network) or ``"conv"``
            (WRN's 1x1 projections without BN).
        preact: pre-activation units (He et al. 2016b) and a final BN-ReLU.
        zero_init_residual: start each residual branch at zero (Goyal et al. 2017).
    """

    def __init__(
        self,
        block: BlockType,
        stages: Sequence[Stage],
        *,
        stem: Stem = IMAGENET_STEM,
        num_classes: int = 1000,
        in_chans: int = 3,
        cardinality: int = 1,
        base_width: int = 64,
        stride_in_1x1: bool = False,
        shortcut: str = "B",
        preact: bool = False,
        zero_init_residual: bool = False,
    ) -> None:
        # The stem's k x k convolution has padding k // 2, so it needs H + 2 (k // 2) >= k, i.e.
        # H >= 1; every later convolution and pooling maps a 1x1 map to 1x1.
        super().__init__(num_classes=num_classes, in_chans=in_chans, min_input_size=1)
        self.conv1 = nn.Conv2d(
            in_chans,
            stem.width,
            stem.kernel,
            stride=stem.stride,
            padding=stem.kernel // 2,
            bias=False,
        )
        self.bn1 = nn.BatchNorm2d(stem.width)
        self.relu = nn.ReLU(inplace=True)
        # Table 1: 3x3 max pool, stride 2 (ImageNet only).
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if stem.pool else nn.Identity()
        self.num_stages = len(stages)
        chans = stem.width
        for index, stage in enumerate(stages, start=1):
            units = []
            for j in range(stage.blocks):
                units.append(
                    ResidualUnit(
                        block,
                        chans,
                        stage.planes,
                        stage.stride if j == 0 else 1,
                        cardinality=cardinality,
                        base_width=base_width,
                        stride_in_1x1=stride_in_1x1,
                        shortcut=shortcut,
                        preact=preact,
                        first_activation_shared=index == 1 and j == 0,
                    )
                )
                chans = stage.planes * block.expansion
            self.add_module(f"layer{index}", nn.Sequential(*units))
        self.num_features = chans
        if preact:  # He et al. 2016b: an extra BN-ReLU after the last unit's addition
            self.final_bn = nn.BatchNorm2d(chans)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(chans, num_classes)
        init_weights(self, zero_init_residual=zero_init_residual)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # N x 64 x 56 x 56 at 224 x 224
        for index in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{index}")(x)
        # ImageNet at 224: layer1 N x 64e x 56 x 56 ... layer4 N x 512e x 7 x 7 (e = expansion);
        # CIFAR at 32: layer1 N x 16 x 32 x 32, layer2 N x 32 x 16 x 16, layer3 N x 64 x 8 x 8.
        if hasattr(self, "final_bn"):
            x = self.relu(self.final_bn(x))
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Table 1: average pool, 1000-d fc; ``pre_logits``: the pooled vector ``fc`` reads."""
        x = torch.flatten(self.avgpool(x), 1)  # N x num_features
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, num_classes: int) -> None:
        """A new ``fc`` for ``num_classes``, PyTorch's default init (see :func:`init_weights`)."""
        self.fc = fresh_linear(self.fc, num_classes)
        self.num_classes = num_classes


def init_weights(model: nn.Module, *, zero_init_residual: bool = False) -> None:
    """He et al. 2015 (arXiv:1502.01852) normal init, fan-out mode, for every convolution (ResNet
    Sec. 3.4 "initialize the weights as in [13]"); unit BN scale and zero shift; the classifier
    keeps PyTorch's default, as torchvision does.

    With ``zero_init_residual``, each residual branch starts at zero (Goyal et al. 2017,
    arXiv:1706.02677, Sec. 5.1): the scale of its last BN in post-activation units, the weight of
    its last convolution in pre-activation units (a zero BN scale before a ReLU would get no
    gradient there).
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if not zero_init_residual:
        return
    for m in model.modules():
        if isinstance(m, ResidualUnit):
            if not m.residual:
                raise ValueError("zero_init_residual needs residual units (shortcut != 'none')")
            last = "conv" if m.preact else "bn"
            nn.init.zeros_(getattr(m, f"{last}{m.num_convs}").weight)


def imagenet_resnet(depth: int, **kwargs) -> ResNet:
    """The ImageNet network of ``depth`` layers of Table 1 with the given options."""
    block, stages = imagenet_stages(depth)
    return ResNet(block, stages, **kwargs)


def cifar_resnet(depth: int, *, num_classes: int = 10, **kwargs) -> ResNet:
    """The CIFAR-10 network of ``depth`` = 6n + 2 layers of Sec. 4.2, with option A shortcuts."""
    kwargs.setdefault("shortcut", "A")  # Sec. 4.2: "we use identity shortcuts in all cases"
    return ResNet(BASIC, cifar_stages(depth), stem=CIFAR_STEM, num_classes=num_classes, **kwargs)


def wide_cifar_resnet(depth: int, k: int, *, num_classes: int = 10, **kwargs) -> ResNet:
    """The CIFAR WRN-``depth``-``k`` of WRN Table 1: pre-activation basic units, projections
    without BN where the shape changes."""
    kwargs.setdefault("shortcut", "conv")
    return ResNet(
        BASIC,
        wide_stages(depth, k),
        stem=CIFAR_STEM,
        num_classes=num_classes,
        preact=True,
        **kwargs,
    )


def resnet18(**kwargs) -> ResNet:
    return imagenet_resnet(18, **kwargs)


def resnet34(**kwargs) -> ResNet:
    return imagenet_resnet(34, **kwargs)


def resnet50(**kwargs) -> ResNet:
    return imagenet_resnet(50, **kwargs)


def resnet101(**kwargs) -> ResNet:
    return imagenet_resnet(101, **kwargs)


def resnet152(**kwargs) -> ResNet:
    return imagenet_resnet(152, **kwargs)


def resnext50_32x4d(**kwargs) -> ResNet:
    return imagenet_resnet(50, cardinality=32, base_width=4, **kwargs)  # Table 1: 32 x 4d


def resnext101_32x4d(**kwargs) -> ResNet:
    return imagenet_resnet(101, cardinality=32, base_width=4, **kwargs)  # Table 3


def resnext101_32x8d(**kwargs) -> ResNet:
    return imagenet_resnet(101, cardinality=32, base_width=8, **kwargs)


def resnext101_64x4d(**kwargs) -> ResNet:
    return imagenet_resnet(101, cardinality=64, base_width=4, **kwargs)  # Table 5


def wide_resnet50_2(**kwargs) -> ResNet:
    return imagenet_resnet(50, base_width=2 * 64, **kwargs)  # WRN-50-2: 3x3 widths doubled


def wide_resnet101_2(**kwargs) -> ResNet:
    return imagenet_resnet(101, base_width=2 * 64, **kwargs)


def plain18(**kwargs) -> ResNet:
    return imagenet_resnet(18, shortcut="none", **kwargs)  # Fig. 3 middle, Table 2


def plain34(**kwargs) -> ResNet:
    return imagenet_resnet(34, shortcut="none", **kwargs)


def preact_resnet18(**kwargs) -> ResNet:
    return imagenet_resnet(18, preact=True, **kwargs)


def preact_resnet34(**kwargs) -> ResNet:
    return imagenet_resnet(34, preact=True, **kwargs)


def preact_resnet50(**kwargs) -> ResNet:
    return imagenet_resnet(50, preact=True, **kwargs)


def preact_resnet101(**kwargs) -> ResNet:
    return imagenet_resnet(101, preact=True, **kwargs)


def preact_resnet152(**kwargs) -> ResNet:
    return imagenet_resnet(152, preact=True, **kwargs)


def resnet20(**kwargs) -> ResNet:
    return cifar_resnet(20, **kwargs)


def resnet32(**kwargs) -> ResNet:
    return cifar_resnet(32, **kwargs)


def resnet44(**kwargs) -> ResNet:
    return cifar_resnet(44, **kwargs)


def resnet56(**kwargs) -> ResNet:
    return cifar_resnet(56, **kwargs)


def resnet110(**kwargs) -> ResNet:
    return cifar_resnet(110, **kwargs)


def wrn16_4(**kwargs) -> ResNet:
    return wide_cifar_resnet(16, 4, **kwargs)  # WRN Sec. 3: 2.7M parameters


def wrn16_8(**kwargs) -> ResNet:
    return wide_cifar_resnet(16, 8, **kwargs)  # WRN Sec. 3: 11.0M


def wrn28_10(**kwargs) -> ResNet:
    return wide_cifar_resnet(28, 10, **kwargs)  # WRN Sec. 3: 36.5M


def wrn40_4(**kwargs) -> ResNet:
    return wide_cifar_resnet(40, 4, **kwargs)  # WRN Sec. 3: 8.9M


def _specs(
    builders: Sequence, *, paper: str, year: int, torchvision: bool = False, cifar: bool = False
) -> tuple[ModelSpec, ...]:
    return tuple(
        ModelSpec(
            fn.__name__,
            fn,
            family="resnet",
            paper=paper,
            year=year,
            input_size=(3, 32, 32) if cifar else (3, 224, 224),
            torchvision_name=fn.__name__ if torchvision else None,
            num_classes=10 if cifar else 1000,
        )
        for fn in builders
    )


MODELS = (
    *_specs(
        (resnet18, resnet34, resnet50, resnet101, resnet152),
        paper=PAPER,
        year=2015,
        torchvision=True,
    ),
    *_specs((plain18, plain34), paper=PAPER, year=2015),
    *_specs(
        (preact_resnet18, preact_resnet34, preact_resnet50, preact_resnet101, preact_resnet152),
        paper=PAPER_PREACT,
        year=2016,
    ),
    *_specs(
        (resnext50_32x4d, resnext101_32x8d, resnext101_64x4d),
        paper=PAPER_RESNEXT,
        year=2016,
        torchvision=True,
    ),
    *_specs((resnext101_32x4d,), paper=PAPER_RESNEXT, year=2016),  # timm only
    *_specs((wide_resnet50_2, wide_resnet101_2), paper=PAPER_WIDE, year=2016, torchvision=True),
    *_specs(
        (resnet20, resnet32, resnet44, resnet56, resnet110), paper=PAPER, year=2015, cifar=True
    ),
    *_specs((wrn16_4, wrn16_8, wrn28_10, wrn40_4), paper=PAPER_WIDE, year=2016, cifar=True),
)
