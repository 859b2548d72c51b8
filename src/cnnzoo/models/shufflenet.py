"""ShuffleNet v1 and v2: channel shuffle for networks built from cheap 1x1 and depthwise layers.

ShuffleNet v1: Zhang, Zhou, Lin & Sun, "ShuffleNet: An Extremely Efficient Convolutional Neural
Network for Mobile Devices", CVPR 2018, https://arxiv.org/abs/1707.01083

ShuffleNet v2: Ma, Zhang, Zheng & Sun, "ShuffleNet V2: Practical Guidelines for Efficient CNN
Architecture Design", ECCV 2018, https://arxiv.org/abs/1807.11164

v1 replaces the dense 1x1 convolutions of a ResNet bottleneck by pointwise *group* convolutions
(g groups) and shuffles the channels between them (Fig. 1(c)), so information crosses the groups.
A unit (Fig. 2(b)) is 1x1 GConv - BN - ReLU - shuffle - 3x3 depthwise conv - BN - 1x1 GConv - BN,
added to the input, then ReLU; the stride-2 unit (Fig. 2(c)) has a 3x3/2 average pool as shortcut
and concatenates instead of adding. Table 1 picks the stage widths of each g so that all networks
cost about 140M mult-adds; "ShuffleNet s x" (Table 2) scales the filters by s.

v2 splits the channels of a unit in two halves (Fig. 3(c)): one passes through unchanged, the other
through 1x1 conv - 3x3 depthwise conv - 1x1 conv (no groups), and a shuffle with two groups mixes
the concatenated halves. The stride-2 unit (Fig. 3(d)) feeds the whole input to both branches.

Deviations from the paper:
- v1, widths other than 1x: each width of Table 1 times s is rounded to the nearest multiple of 4g
  (``layers.make_divisible``), so the bottleneck (a quarter of it) splits into g groups. The stem
  keeps 24 filters for 1 <= s < 2, has 48 at 2x and 12 at 0.5x and below (24 * 2^floor(log2 s),
  at least 12, then rounded to a multiple of g): the authors' released code (megvii
  ShuffleNet-Series) does this, and it reproduces the paper's complexities at g = 3, 13/38/137/292/
  524 MFLOPs for 0.25x/0.5x/1x/1.5x/2x (Tables 1, 2, 5), where scaling the stem by s would give
  11 and 300 MFLOPs at 0.25x and 1.5x. The paper states no rule; these widths equal the
  authors' code for every configuration it ships (g = 3 and 8 at 0.5x-2x).
- v1: the first unit of stage 2 has an ungrouped first 1x1 convolution (Sec. 3.3), so it has no
  shuffle after it either (a permutation after a dense layer only reorders its filters).
- v1: the classifier has a bias (the reference count includes it; the authors' code has none).
- Global average pooling instead of a fixed 7x7 pool, so smaller inputs work (identical at 224).
- v2 follows torchvision's ``ShuffleNetV2`` layout and parameter names (``conv1``, ``maxpool``,
  ``stage2``-``stage4`` of units with ``branch1``/``branch2``, ``conv5``, ``fc``), so its
  checkpoints load unchanged; the architecture is the paper's Table 5 and Fig. 3(c)/(d).
- Weight init is He et al. 2015 (neither paper states a scheme).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cnnzoo.models.base import ModelSpec, ZooModel
from cnnzoo.models.layers import ConvNormAct, fresh_linear, init_he_fan_out, make_divisible

PAPER_V1 = "Zhang et al. 2018, arXiv:1707.01083"
PAPER_V2 = "Ma et al. 2018, arXiv:1807.11164"

# ShuffleNet v1, Table 1: output channels of stages 2, 3, 4 at 1x for each number of groups g.
V1_STAGE_CHANNELS: dict[int, tuple[int, int, int]] = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
V1_STAGE_REPEATS = (4, 8, 4)  # Table 1: 1 stride-2 unit + 3, 7, 3 stride-1 units
V1_STEM_CHANNELS = 24  # Table 1: Conv1 3x3/2, 24 channels, for every g
V1_MIN_STEM_CHANNELS = 12  # authors' code: 12 at 0.5x (and the paper's 13 MFLOPs at 0.25x)
BOTTLENECK_RATIO = 4  # Sec. 3.3: bottleneck channels = 1/4 of the unit's output channels

# ShuffleNet v2, Table 5: output channels of Conv1, stages 2-4 and Conv5 for each width.
V2_STAGE_CHANNELS: dict[str, tuple[int, int, int, int, int]] = {
    "0.5": (24, 48, 96, 192, 1024),
    "1.0": (24, 116, 232, 464, 1024),
    "1.5": (24, 176, 352, 704, 1024),
    "2.0": (24, 244, 488, 976, 2048),
}
V2_STAGE_REPEATS = (4, 8, 4)  # Table 5: 1 stride-2 unit + 3, 7, 3 stride-1 units

STEM_STRIDE = 2  # Conv1 3x3/2 (v1 Table 1, v2 Table 5)
POOL_STRIDE = 2  # MaxPool 3x3/2 (v1 Table 1, v2 Table 5)
KERNEL = 3  # every spatial filter (Conv1, MaxPool, depthwise conv, v1 shortcut pool) is 3x3


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Shuffle channels across ``groups`` (v1 Sec. 3.1, Fig. 1(c)).

    Reshape the channels to ``(groups, n)``, transpose to ``(n, groups)`` and flatten: the output
    takes channel 0 of every group, then channel 1 of every group, and so on, so each group of
    the next group convolution sees one sub-group of every group of this one.

    Args:
        x: a batch ``N x C x H x W`` with ``C`` divisible by ``groups``.
        groups: the number of groups.

    Returns:
        The batch with its channels permuted.
    """
    batch, channels, height, width = x.shape
    x = x.view(batch, groups, channels // groups, height, width)
    return x.transpose(1, 2).reshape(batch, channels, height, width)


class ChannelShuffle(nn.Module):
    """:func:`channel_shuffle` as a layer, shown in the printed network where Fig. 2 has it."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class ShuffleV1Unit(nn.Module):
    """A ShuffleNet v1 unit: Fig. 2(b) with stride 1, Fig. 2(c) with stride 2.

    Args:
        in_channels: input channels.
        out_channels: output channels of the unit (for stride 2: the shortcut's ``in_channels``
            plus the residual branch's ``out_channels - in_channels``).
        groups: groups of the 1x1 group convolutions.
        stride: 1 (add the identity) or 2 (concatenate a 3x3/2 average pool of the input).
        group_first: group the first 1x1 convolution (Sec. 3.3: not in the first unit of stage 2).
    """

    def __init__(
        self, in_channels: int, out_channels: int, groups: int, stride: int, group_first: bool
    ) -> None:
        super().__init__()
        self.stride = stride
        mid = out_channels // BOTTLENECK_RATIO
        branch_out = out_channels - in_channels if stride > 1 else out_channels
        first_groups = groups if group_first else 1
        self.gconv1 = ConvNormAct(in_channels, mid, 1, groups=first_groups)  # 1x1 GConv, BN, ReLU
        self.shuffle = ChannelShuffle(first_groups)  # Fig. 2(b): after the first GConv
        # Sec. 3.2: no ReLU after the depthwise convolution
        self.dwconv = ConvNormAct(mid, mid, KERNEL, stride, KERNEL // 2, groups=mid, act=False)
        self.gconv2 = ConvNormAct(mid, branch_out, 1, groups=groups, act=False)  # ReLU after merge
        # Fig. 2(c): 3x3 average pooling with stride 2 on the shortcut path
        self.shortcut = nn.AvgPool2d(KERNEL, stride, KERNEL // 2) if stride > 1 else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.gconv2(self.dwconv(self.shuffle(self.gconv1(x))))
        if self.stride > 1:
            return self.relu(torch.cat((self.shortcut(x), out), dim=1))  # Fig. 2(c): Concat
        return self.relu(x + out)  # Fig. 2(b): Add


class ShuffleNetV1(ZooModel):
    """ShuffleNet v1 (Table 1) with ``groups`` g and width multiplier s (Table 2).

    Args:
        groups: groups of the pointwise convolutions, one of Table 1's 1, 2, 3, 4, 8.
        width_mult: the scale factor s of "ShuffleNet s x" (Sec. 3.3): filters times s
            (channel rounding: see the module's deviations).
        num_classes: classifier outputs.
        in_chans: input channels.
    """

    def __init__(
        self,
        *,
        groups: int = 3,
        width_mult: float = 1.0,
        num_classes: int = 1000,
        in_chans: int = 3,
    ) -> None:
        if groups not in V1_STAGE_CHANNELS:
            raise ValueError(
                f"groups must be one of {sorted(V1_STAGE_CHANNELS)} (Table 1), got {groups}"
            )
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}")
        # Every 3x3 layer pads by 1, so a stride-2 layer maps a side h to ceil(h / 2) >= 1: even a
        # 1x1 input reaches the global pool.
        super().__init__(num_classes=num_classes, in_chans=in_chans, min_input_size=1)
        self.groups, self.width_mult = groups, width_mult

        stem = V1_STEM_CHANNELS * 2 ** math.floor(math.log2(width_mult))
        channels = make_divisible(max(stem, V1_MIN_STEM_CHANNELS), groups)
        self.conv1 = ConvNormAct(in_chans, channels, KERNEL, STEM_STRIDE, KERNEL // 2)
        self.maxpool = nn.MaxPool2d(KERNEL, POOL_STRIDE, KERNEL // 2)
        self.stage_channels = tuple(
            make_divisible(c * width_mult, BOTTLENECK_RATIO * groups)
            for c in V1_STAGE_CHANNELS[groups]
        )
        for index, (out_channels, repeats) in enumerate(
            zip(self.stage_channels, V1_STAGE_REPEATS, strict=True)
        ):
            units = []
            for i in range(repeats):
                stride = 2 if i == 0 else 1  # Table 1: each stage starts with a stride-2 unit
                group_first = not (index == 0 and i == 0)  # Sec. 3.3: not in stage 2's first
                units.append(ShuffleV1Unit(channels, out_channels, groups, stride, group_first))
                channels = out_channels
            self.add_module(f"stage{index + 2}", nn.Sequential(*units))
        self.num_features = channels
        self.global_pool = nn.AdaptiveAvgPool2d(1)  # Table 1: GlobalPool 7x7
        self.fc = nn.Linear(channels, num_classes)  # Table 1: FC 1000
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))  # N x 24 x 56 x 56 at 224 x 224, 1x
        x = self.stage2(x)  # N x 240 x 28 x 28 (g = 3, 1x)
        x = self.stage3(x)  # N x 480 x 14 x 14
        return self.stage4(x)  # N x 960 x 7 x 7

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global pooling and ``fc``; ``pre_logits``: the pooled vector ``fc`` reads."""
        x = torch.flatten(self.global_pool(x), 1)  # N x num_features
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, num_classes: int) -> None:
        """A new ``fc`` for ``num_classes``, initialised by :func:`init_weights`."""
        self.fc = _fresh_classifier(self.fc, num_classes)
        self.num_classes = num_classes


def depthwise_conv(channels: int, stride: int) -> nn.Conv2d:
    """A 3x3 depthwise convolution without bias (v2 Fig. 3)."""
    return nn.Conv2d(channels, channels, KERNEL, stride, KERNEL // 2, groups=channels, bias=False)


def pointwise_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 1x1 convolution without bias (v2 Fig. 3: no groups, guideline G2)."""
    return nn.Conv2d(in_channels, out_channels, 1, bias=False)


class ShuffleV2Unit(nn.Module):
    """A ShuffleNet v2 unit: Fig. 3(c) with stride 1, Fig. 3(d) with stride 2.

    With stride 1 the input is split into two halves (Sec. 4, channel split); the first passes
    unchanged and ``branch1`` is empty. With stride 2 both branches read the whole input and the
    output has twice the channels of one branch. Either way a shuffle with two groups follows
    the concatenation. Submodule indices are torchvision's ``InvertedResidual``.

    Args:
        in_channels: input channels.
        out_channels: output channels (even).
        stride: 1 or 2.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if stride == 1 and in_channels != out_channels:
            raise ValueError("a stride-1 unit keeps its channel count")
        self.stride = stride
        branch = out_channels // 2  # Sec. 4: c' = c / 2
        self.branch1 = nn.Sequential()
        if stride > 1:  # Fig. 3(d), left: 3x3 DWConv (stride 2) - BN - 1x1 Conv - BN - ReLU
            self.branch1 = nn.Sequential(
                depthwise_conv(in_channels, stride),
                nn.BatchNorm2d(in_channels),
                pointwise_conv(in_channels, branch),
                nn.BatchNorm2d(branch),
                nn.ReLU(inplace=True),
            )
        # Fig. 3(c)/(d), right: 1x1 Conv - BN - ReLU - 3x3 DWConv - BN - 1x1 Conv - BN - ReLU
        self.branch2 = nn.Sequential(
            pointwise_conv(in_channels if stride > 1 else branch, branch),
            nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
            depthwise_conv(branch, stride),
            nn.BatchNorm2d(branch),
            pointwise_conv(branch, branch),
            nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        else:
            kept, processed = x.chunk(2, dim=1)
            out = torch.cat((kept, self.branch2(processed)), dim=1)
        return channel_shuffle(out, 2)  # Fig. 3: Concat, then Channel Shuffle


class ShuffleNetV2(ZooModel):
    """ShuffleNet v2 with the output channels of one column of Table 5.

    Args:
        channels: output channels of Conv1, stages 2-4 and Conv5 (see :data:`V2_STAGE_CHANNELS`).
        num_classes: classifier outputs.
        in_chans: input channels.
    """

    def __init__(
        self,
        channels: tuple[int, int, int, int, int],
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
    ) -> None:
        # Every 3x3 layer pads by 1, so a stride-2 layer maps a side h to ceil(h / 2) >= 1.
        super().__init__(num_classes=num_classes, in_chans=in_chans, min_input_size=1)
        stem, *stage_channels, last = channels
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_chans, stem, KERNEL, STEM_STRIDE, KERNEL // 2, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU(inplace=True),
        )
        self.maxpool = nn.MaxPool2d(KERNEL, POOL_STRIDE, KERNEL // 2)
        width = stem
        for index, (out_channels, repeats) in enumerate(
            zip(stage_channels, V2_STAGE_REPEATS, strict=True)
        ):
            units = [ShuffleV2Unit(width, out_channels, 2)]  # Table 5: each stage starts at s2
            units += [ShuffleV2Unit(out_channels, out_channels, 1) for _ in range(repeats - 1)]
            self.add_module(f"stage{index + 2}", nn.Sequential(*units))
            width = out_channels
        self.conv5 = nn.Sequential(  # Table 5: Conv5 1x1
            pointwise_conv(width, last), nn.BatchNorm2d(last), nn.ReLU(inplace=True)
        )
        self.num_features = last
        self.global_pool = nn.AdaptiveAvgPool2d(1)  # Table 5: GlobalPool 7x7
        self.fc = nn.Linear(last, num_classes)  # Table 5: FC 1000
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))  # N x 24 x 56 x 56 at 224 x 224
        x = self.stage2(x)  # N x 116 x 28 x 28 (1x)
        x = self.stage3(x)  # N x 232 x 14 x 14
        x = self.stage4(x)  # N x 464 x 7 x 7
        return self.conv5(x)  # N x 1024 x 7 x 7

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global pooling and ``fc``; ``pre_logits``: the pooled vector ``fc`` reads."""
        x = torch.flatten(self.global_pool(x), 1)  # N x num_features
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, num_classes: int) -> None:
        """A new ``fc`` for ``num_classes``, initialised by :func:`init_weights`."""
        self.fc = _fresh_classifier(self.fc, num_classes)
        self.num_classes = num_classes


def _fresh_classifier(old: nn.Linear, num_classes: int) -> nn.Linear:
    fc = fresh_linear(old, num_classes)
    init_weights(fc)
    return fc


def init_weights(model: nn.Module) -> None:
    """He et al. 2015 normal init (fan-out) for convolutions, N(0, 0.01) for the classifier, unit
    batch-norm scale, zero shifts and biases. Neither paper states a scheme (the authors' code
    draws convolutions from N(0, 1/fan_in)); torchvision's v2 keeps PyTorch's defaults."""
    init_he_fan_out(model, linear_std=0.01)


def shufflenet_v1(*, groups: int = 3, width_mult: float = 1.0, **kwargs) -> ShuffleNetV1:
    """ShuffleNet v1 with ``groups`` g (Table 1) and width ``width_mult`` s (Table 2)."""
    return ShuffleNetV1(groups=groups, width_mult=width_mult, **kwargs)


def _v1_with_groups(groups: int, kwargs: dict) -> ShuffleNetV1:
    """``shufflenet_v1_g<groups>``: a ``groups`` option must agree with the name."""
    if kwargs.setdefault("groups", groups) != groups:
        raise ValueError(f"shufflenet_v1_g{groups} has groups={groups}, got {kwargs['groups']}")
    return ShuffleNetV1(**kwargs)


def shufflenet_v1_g1(**kwargs) -> ShuffleNetV1:
    return _v1_with_groups(1, kwargs)  # Table 1, g = 1


def shufflenet_v1_g2(**kwargs) -> ShuffleNetV1:
    return _v1_with_groups(2, kwargs)  # Table 1, g = 2


def shufflenet_v1_g3(**kwargs) -> ShuffleNetV1:
    return _v1_with_groups(3, kwargs)  # Table 1, g = 3


def shufflenet_v1_g4(**kwargs) -> ShuffleNetV1:
    return _v1_with_groups(4, kwargs)  # Table 1, g = 4


def shufflenet_v1_g8(**kwargs) -> ShuffleNetV1:
    return _v1_with_groups(8, kwargs)  # Table 1, g = 8


def shufflenet_v2_x0_5(**kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(V2_STAGE_CHANNELS["0.5"], **kwargs)


def shufflenet_v2_x1_0(**kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(V2_STAGE_CHANNELS["1.0"], **kwargs)


def shufflenet_v2_x1_5(**kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(V2_STAGE_CHANNELS["1.5"], **kwargs)


def shufflenet_v2_x2_0(**kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(V2_STAGE_CHANNELS["2.0"], **kwargs)


MODELS = (
    ModelSpec(
        "shufflenet_v1",
        shufflenet_v1,
        family="shufflenet",
        paper=PAPER_V1,
        year=2017,
        defaults={"groups": 3, "width_mult": 1.0},
    ),
    *(
        ModelSpec(
            fn.__name__,
            fn,
            family="shufflenet",
            paper=PAPER_V1,
            year=2017,
            defaults={"groups": groups, "width_mult": 1.0},
        )
        for fn, groups in (
            (shufflenet_v1_g1, 1),
            (shufflenet_v1_g2, 2),
            (shufflenet_v1_g3, 3),
            (shufflenet_v1_g4, 4),
            (shufflenet_v1_g8, 8),
        )
    ),
    *(
        ModelSpec(
            fn.__name__,
            fn,
            family="shufflenet",
            paper=PAPER_V2,
            year=2018,
            torchvision_name=fn.__name__,
        )
        for fn in (shufflenet_v2_x0_5, shufflenet_v2_x1_0, shufflenet_v2_x1_5, shufflenet_v2_x2_0)
    ),
)
