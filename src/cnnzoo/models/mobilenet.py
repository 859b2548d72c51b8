"""MobileNet v1: Efficient Convolutional Neural Networks for Mobile Vision Applications.

Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto & Adam, 2017,
https://arxiv.org/abs/1704.04861

A 3x3/2 convolution of 32 filters, then 13 depthwise separable layers (Sec. 3.1, Fig. 3 right): a
3x3 depthwise convolution (one filter per input channel) and a 1x1 pointwise convolution, each
followed by batch norm and ReLU. Global average pooling and one fully connected layer end the
network (Table 1). Two hyper-parameters shrink it (Sec. 3.3, 3.4):

- the width multiplier ``width_mult`` (alpha): every layer has ``int(alpha * M)`` channels
  instead of ``M``. ``mobilenet_v1_075``, ``_050`` and ``_025`` are alpha = 0.75, 0.5, 0.25;
- the resolution multiplier rho is not an argument: it *is* the input size, ``224 * rho``
  (rho = 1, 6/7, 5/7, 4/7 gives the paper's 224, 192, 160 and 128). The global pooling makes
  every size work; the parameters do not depend on rho, the mult-adds scale with rho^2.

``conv_mobilenet_v1`` replaces each depthwise separable layer by one full 3x3 convolution of the
same stride and width: the "Conv MobileNet" of Table 4 (29.3M parameters, 4866M mult-adds).

Deviations from the paper:
- The last depthwise convolution has stride 1. Table 1 prints "Conv dw / s2" for it, but its own
  input-size column stays at 7x7x1024 up to the 7x7 average pool, and the authors' TF-slim code
  (``mobilenet_v1.py``, ``_CONV_DEFS``) uses stride 1, as every port does.
- Convolutions pad symmetrically (padding 1 for 3x3), the PyTorch convention; the TF-slim
  reference pads "SAME" (asymmetric at stride 2 on even sizes). Output sizes are identical.
- ReLU as in Sec. 3 and Fig. 3; the TF-slim reference and timm use ReLU6. Batch-norm epsilon is
  PyTorch's 1e-5 (TF-slim: 0.001).
- The 7x7 average pool of Table 1 is a global (adaptive) average pool: the same at 224x224, and
  it lets the smaller inputs of the resolution multiplier through.
- No dropout by default: Sec. 3.4 uses "less regularization" for small models and names none;
  the TF-slim reference keeps 0.999 of the activations before the classifier (``dropout=0.001``).
- Parameter names follow timm's ``mobilenetv1_100`` (``conv_stem``, ``bn1``,
  ``blocks.<stage>.<layer>.conv_dw/bn1/conv_pw/bn2``, ``classifier``), so its state dict loads
  with ``strict=True`` (timm uses ReLU6, so outputs then differ). A stage is the run of layers at
  one resolution; a new stage starts at each stride-2 layer.

Naming note: TF-slim calls the width multiplier ``depth_multiplier`` and timm uses
``depth_multiplier`` for repeating layers. Here ``depth_multiplier`` is the *channel multiplier of
the depthwise convolution* (output channels per input channel, ``groups`` = input channels); the
paper always uses 1 (Eq. 3), and so does the default.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from cnnzoo.models.base import ModelSpec, ZooModel
from cnnzoo.models.layers import ConvNormAct, fresh_linear, init_he_fan_out

PAPER = "Howard et al. 2017, arXiv:1704.04861"


class SeparableRow(NamedTuple):
    """One depthwise separable layer of Table 1: 3x3 depthwise convolution with ``stride``, then
    a 1x1 pointwise convolution to ``out_channels``."""

    stride: int
    out_channels: int


STEM_CHANNELS = 32  # Table 1, first row: Conv / s2, 3x3x3x32
STEM_STRIDE = 2  # Table 1, first row
KERNEL = 3  # Table 1: every spatial filter (full and depthwise) is 3x3
MIN_CHANNELS = 8  # TF-slim reference: min_depth=8 when alpha shrinks a layer

# Table 1, the rows after the first convolution: each "Conv dw / s" + "Conv / s1 1x1" pair.
LAYERS: tuple[SeparableRow, ...] = (
    SeparableRow(1, 64),  # 112 x 112
    SeparableRow(2, 128),  # 56 x 56
    SeparableRow(1, 128),
    SeparableRow(2, 256),  # 28 x 28
    SeparableRow(1, 256),
    SeparableRow(2, 512),  # 14 x 14
    *(SeparableRow(1, 512),) * 5,  # Table 1: "5x" Conv dw / s1 + Conv / s1 1x1x512x512
    SeparableRow(2, 1024),  # 7 x 7
    SeparableRow(1, 1024),  # Table 1 prints s2 here; stride 1 (see the deviations)
)


def scale_channels(channels: int, width_mult: float) -> int:
    """Channels of a layer under the width multiplier (Sec. 3.3): ``int(alpha * M)``, at least
    8 as in the TF-slim reference. Exact for the paper's alphas (1, 0.75, 0.5, 0.25), where it
    agrees with ``layers.make_divisible``."""
    return max(int(channels * width_mult), MIN_CHANNELS)


class DepthwiseSeparableConv(nn.Module):
    """Fig. 3 right: 3x3 depthwise conv - BN - ReLU - 1x1 pointwise conv - BN - ReLU.

    Args:
        in_channels: input channels.
        out_channels: output channels of the pointwise convolution.
        stride: stride of the depthwise convolution.
        depth_multiplier: depthwise output channels per input channel (1 in the paper).
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, depth_multiplier: int = 1
    ) -> None:
        super().__init__()
        mid = in_channels * depth_multiplier
        self.conv_dw = nn.Conv2d(
            in_channels, mid, KERNEL, stride, KERNEL // 2, groups=in_channels, bias=False
        )
        self.bn1 = nn.BatchNorm2d(mid)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv_pw = nn.Conv2d(mid, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv_dw(x)))
        return self.relu2(self.bn2(self.conv_pw(x)))


def full_conv(in_channels: int, out_channels: int, stride: int) -> ConvNormAct:
    """Fig. 3 left: the standard 3x3 convolution - BN - ReLU that a separable layer replaces."""
    return ConvNormAct(in_channels, out_channels, KERNEL, stride, KERNEL // 2)


class MobileNetV1(ZooModel):
    """MobileNet v1 (Table 1) with width multiplier, or its full-convolution baseline (Table 4).

    Args:
        width_mult: the width multiplier alpha (Sec. 3.3); the resolution multiplier rho is the
            input size, ``224 * rho``.
        separable: depthwise separable layers (MobileNet); ``False`` uses one full 3x3
            convolution per layer instead (Conv MobileNet, Table 4).
        depth_multiplier: output channels per input channel of each depthwise convolution (1 in
            the paper); only with ``separable``.
        num_classes: classifier outputs.
        in_chans: input channels.
        dropout: dropout probability before the classifier (0: the paper names none; TF-slim
            uses 0.001).
    """

    def __init__(
        self,
        *,
        width_mult: float = 1.0,
        separable: bool = True,
        depth_multiplier: int = 1,
        num_classes: int = 1000,
        in_chans: int = 3,
        dropout: float = 0.0,
    ) -> None:
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}")
        if not isinstance(depth_multiplier, int) or depth_multiplier < 1:
            raise ValueError(f"depth_multiplier must be a positive integer, got {depth_multiplier}")
        if depth_multiplier != 1 and not separable:
            raise ValueError("depth_multiplier applies to depthwise convolutions only")
        # Every 3x3 convolution pads by 1, so a stride-2 layer maps a side h to ceil(h / 2) >= 1:
        # even a 1x1 input reaches the global pool.
        super().__init__(num_classes=num_classes, in_chans=in_chans, min_input_size=1)

        channels = scale_channels(STEM_CHANNELS, width_mult)
        self.conv_stem = nn.Conv2d(in_chans, channels, KERNEL, STEM_STRIDE, KERNEL // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU(inplace=True)

        stages: list[list[nn.Module]] = []
        for row in LAYERS:
            out_channels = scale_channels(row.out_channels, width_mult)
            if separable:
                layer = DepthwiseSeparableConv(channels, out_channels, row.stride, depth_multiplier)
            else:
                layer = full_conv(channels, out_channels, row.stride)
            if row.stride > 1 or not stages:  # a new resolution starts a new stage
                stages.append([])
            stages[-1].append(layer)
            channels = out_channels
        self.blocks = nn.Sequential(*(nn.Sequential(*stage) for stage in stages))
        self.num_features = channels

        self.global_pool = nn.AdaptiveAvgPool2d(1)  # Table 1: Avg Pool / s1, 7x7
        self.dropout = nn.Dropout(p=dropout)
        self.classifier = nn.Linear(channels, num_classes)  # Table 1: FC / s1, 1024 x 1000
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv_stem(x)))  # N x 32a x 112 x 112 at 224 x 224
        return self.blocks(x)  # N x 1024a x 7 x 7

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pooling, dropout, ``classifier``; ``pre_logits``: the pooled vector ``classifier``
        reads (after the dropout, a no-op in eval mode)."""
        x = self.dropout(torch.flatten(self.global_pool(x), 1))  # N x 1024a
        return x if pre_logits else self.classifier(x)

    def reset_classifier(self, num_classes: int) -> None:
        """A new ``classifier`` for ``num_classes``, initialised by :func:`init_weights`."""
        fc = fresh_linear(self.classifier, num_classes)
        init_weights(fc)
        self.classifier = fc
        self.num_classes = num_classes


def init_weights(model: nn.Module) -> None:
    """He et al. 2015 normal init (fan-out) for convolutions, N(0, 0.01) for the classifier, unit
    batch-norm scale, zero shifts and biases, as torchvision's MobileNet v2/v3. The paper gives
    no scheme; its TF-slim reference draws every weight from a truncated normal of std 0.09."""
    init_he_fan_out(model, linear_std=0.01)


def mobilenet_v1(*, width_mult: float = 1.0, **kwargs) -> MobileNetV1:
    """MobileNet v1 of Table 1 with width multiplier ``width_mult`` (alpha); feed ``224 * rho``
    pixels for the resolution multiplier rho. Options: see :class:`MobileNetV1`."""
    return MobileNetV1(width_mult=width_mult, **kwargs)


def mobilenet_v1_075(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.75, **kwargs)  # Table 6: 0.75 MobileNet-224


def mobilenet_v1_050(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.5, **kwargs)  # Table 6: 0.5 MobileNet-224


def mobilenet_v1_025(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.25, **kwargs)  # Table 6: 0.25 MobileNet-224


def conv_mobilenet_v1(*, width_mult: float = 1.0, **kwargs) -> MobileNetV1:
    """Table 4's "Conv MobileNet": full 3x3 convolutions instead of depthwise separable ones."""
    return MobileNetV1(width_mult=width_mult, separable=False, **kwargs)


MODELS = (
    ModelSpec(
        "mobilenet_v1",
        mobilenet_v1,
        family="mobilenet",
        paper=PAPER,
        year=2017,
        defaults={"width_mult": 1.0},
    ),
    ModelSpec(
        "mobilenet_v1_075",
        mobilenet_v1_075,
        family="mobilenet",
        paper=PAPER,
        year=2017,
        defaults={"width_mult": 0.75},
    ),
    ModelSpec(
        "mobilenet_v1_050",
        mobilenet_v1_050,
        family="mobilenet",
        paper=PAPER,
        year=2017,
        defaults={"width_mult": 0.5},
    ),
    ModelSpec(
        "mobilenet_v1_025",
        mobilenet_v1_025,
        family="mobilenet",
        paper=PAPER,
        year=2017,
        defaults={"width_mult": 0.25},
    ),
    ModelSpec(
        "conv_mobilenet_v1",
        conv_mobilenet_v1,
        family="mobilenet",
        paper=PAPER,
        year=2017,
        defaults={"width_mult": 1.0, "separable": False},
    ),
)
