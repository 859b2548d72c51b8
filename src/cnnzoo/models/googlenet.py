"""GoogLeNet (Inception v1): Going Deeper with Convolutions.

Szegedy et al., CVPR 2015, https://arxiv.org/abs/1409.4842

A stem of plain convolutions and max-pools, then nine Inception modules (Sec. 4, Fig. 2b): four
parallel branches -- 1x1; 1x1 reduce + 3x3; 1x1 reduce + 5x5; 3x3 max-pool + 1x1 projection --
concatenated along channels. Their widths are the rows of Table 1. Two auxiliary classifiers on top
of inception (4a) and (4d) add their losses during training only (Sec. 5).

Two layouts share the code:

- ``googlenet`` is torchvision's layout with its parameter names: its checkpoints load unchanged.
- ``googlenet_original`` is Table 1 and Fig. 3 of the paper.

Deviations from the paper:
- ``googlenet`` (torchvision's layout): batch normalisation (eps 0.001) after every convolution,
  which post-dates the paper; the "5x5" branch uses a 3x3 kernel (a documented slip of the
  torchvision port, pytorch/vision#906); no local response normalisation; the max-pool before
  stage 5 is 2x2/2 instead of 3x3/2; dropout 0.2 instead of 0.4; optional ``transform_input``
  re-normalisation of the input, as in torchvision.
- Both: the auxiliary heads pool with an adaptive average pool to 4x4 instead of the paper's 5x5/3
  average pool (Sec. 5), so that small inputs work. Both give 4x4 at 224x224 (14x14 maps), but the
  windows differ: 4, 5, 4 and 4 wide starting at 0, 3, 7 and 10, against 5 wide at 0, 3, 6 and 9.
- Both: the final 7x7 average pool (Table 1) is an adaptive average pool to 1x1 (the same at 224).
- Both: max-pools round their output size up (``ceil_mode``), as Caffe does, which gives Table 1's
  sizes 112 -> 56 -> 28 -> 14 -> 7 at 224x224.
- ``googlenet_original``: the paper gives no local response normalisation constants or weight
  init; those of the BVLC Caffe reference model (``bvlc_googlenet``) are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from cnnzoo.models.base import AuxOutputs, ModelSpec, ZooModel
from cnnzoo.models.layers import ConvNormAct, fresh_linear

PAPER = "Szegedy et al. 2015, arXiv:1409.4842"


class InceptionWidths(NamedTuple):
    """One Inception row of Table 1: output channels of each convolution of the module."""

    ch1x1: int  # "#1x1"
    ch3x3red: int  # "#3x3 reduce"
    ch3x3: int  # "#3x3"
    ch5x5red: int  # "#5x5 reduce"
    ch5x5: int  # "#5x5"
    pool_proj: int  # "pool proj"

    @property
    def out_channels(self) -> int:
        return self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj


# Table 1: the Inception modules in network order.
TABLE1: dict[str, InceptionWidths] = {
    "inception3a": InceptionWidths(64, 96, 128, 16, 32, 32),  # -> 256 x 28 x 28
    "inception3b": InceptionWidths(128, 128, 192, 32, 96, 64),  # -> 480 x 28 x 28
    "inception4a": InceptionWidths(192, 96, 208, 16, 48, 64),  # -> 512 x 14 x 14
    "inception4b": InceptionWidths(160, 112, 224, 24, 64, 64),  # -> 512 x 14 x 14
    "inception4c": InceptionWidths(128, 128, 256, 24, 64, 64),  # -> 512 x 14 x 14
    "inception4d": InceptionWidths(112, 144, 288, 32, 64, 64),  # -> 528 x 14 x 14
    "inception4e": InceptionWidths(256, 160, 320, 32, 128, 128),  # -> 832 x 14 x 14
    "inception5a": InceptionWidths(256, 160, 320, 32, 128, 128),  # -> 832 x 7 x 7
    "inception5b": InceptionWidths(384, 192, 384, 48, 128, 128),  # -> 1024 x 7 x 7
}
POOL_BEFORE = {"inception4a": "maxpool3", "inception5a": "maxpool4"}  # Table 1: stride-2 pools
AUX_AFTER = {"inception4a": "aux1", "inception4d": "aux2"}  # Sec. 5: on (4a) and (4d)

STEM_WIDTHS = (64, 64, 192)  # Table 1: conv 7x7/2 64; "#3x3 reduce" 64, "#3x3" 192
AUX_REDUCE = 128  # Sec. 5: 1x1 convolution with 128 filters
AUX_GRID = 4  # Sec. 5: the 5x5/3 average pool gives 4x4 on the 14x14 maps
AUX_FC = 1024  # Sec. 5: fully connected layer with 1024 units
DROPOUT_AUX = 0.7  # Sec. 5: dropout with 70% ratio of dropped outputs
# The paper gives no LRN constants: those of the BVLC Caffe reference model (bias k = 1, and
# alpha divided by the size, as both Caffe and nn.LocalResponseNorm do).
LRN_SIZE, LRN_ALPHA, LRN_BETA = 5, 1e-4, 0.75


@dataclass(frozen=True)
class Layout:
    """What differs between the paper's network and torchvision's port of it.

    Args:
        batch_norm: batch norm (eps 0.001, torchvision) after every convolution.
        kernel_5x5: kernel size of the "5x5" branch of each Inception module.
        lrn: local response normalisation after pool1 and after conv3 (Fig. 3).
        maxpool4_kernel: kernel of the max-pool before stage 5 (stride 2).
        dropout: dropout before the classifier.
    """

    batch_norm: bool
    kernel_5x5: int
    lrn: bool
    maxpool4_kernel: int
    dropout: float


PAPER_LAYOUT = Layout(
    batch_norm=False,
    kernel_5x5=5,  # Sec. 4, Fig. 2: 5x5 convolutions
    lrn=True,  # Fig. 3: LocalRespNorm after pool1 and before pool2
    maxpool4_kernel=3,  # Table 1: max pool 3x3/2 before inception (5a)
    dropout=0.4,  # Table 1: dropout (40%)
)
TORCHVISION_LAYOUT = Layout(
    batch_norm=True, kernel_5x5=3, lrn=False, maxpool4_kernel=2, dropout=0.2
)  # torchvision.models.GoogLeNet
BN_EPS = 0.001  # torchvision BasicConv2d


def conv_block(
    in_channels: int, out_channels: int, kernel_size: int, layout: Layout, **kwargs
) -> ConvNormAct:
    """A convolution + ReLU, with batch norm where ``layout`` has it."""
    return ConvNormAct(
        in_channels, out_channels, kernel_size, norm=layout.batch_norm, bn_eps=BN_EPS, **kwargs
    )


def max_pool(kernel_size: int, stride: int, padding: int = 0) -> nn.MaxPool2d:
    """A max-pool that rounds its output size up, as Caffe (and torchvision's port) does."""
    return nn.MaxPool2d(kernel_size, stride, padding, ceil_mode=True)


class Inception(nn.Module):
    """The Inception module with dimension reductions (Sec. 4, Fig. 2b).

    Args:
        in_channels: input channels.
        widths: a row of Table 1.
        layout: kernel of the "5x5" branch and whether batch norm is used.
    """

    def __init__(self, in_channels: int, widths: InceptionWidths, layout: Layout) -> None:
        super().__init__()
        w, k = widths, layout.kernel_5x5
        self.branch1 = conv_block(in_channels, w.ch1x1, 1, layout)
        self.branch2 = nn.Sequential(
            conv_block(in_channels, w.ch3x3red, 1, layout),
            conv_block(w.ch3x3red, w.ch3x3, 3, layout, padding=1),
        )
        self.branch3 = nn.Sequential(
            conv_block(in_channels, w.ch5x5red, 1, layout),
            conv_block(w.ch5x5red, w.ch5x5, k, layout, padding=k // 2),
        )
        self.branch4 = nn.Sequential(
            max_pool(3, 1, padding=1),  # Fig. 2b: 3x3 max pooling, same size
            conv_block(in_channels, w.pool_proj, 1, layout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], dim=1)


class InceptionAux(nn.Module):
    """An auxiliary classifier (Sec. 5): average pool, 1x1 conv, FC + ReLU, dropout, linear."""

    def __init__(
        self, in_channels: int, num_classes: int, layout: Layout, dropout: float = DROPOUT_AUX
    ) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((AUX_GRID, AUX_GRID))  # the paper's 5x5/3 at 14x14
        self.conv = conv_block(in_channels, AUX_REDUCE, 1, layout)
        self.fc1 = nn.Linear(AUX_REDUCE * AUX_GRID * AUX_GRID, AUX_FC)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(p=dropout)
        self.fc2 = nn.Linear(AUX_FC, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pool(x))  # N x 128 x 4 x 4
        x = self.relu(self.fc1(torch.flatten(x, 1)))  # N x 1024
        return self.fc2(self.dropout(x))


class GoogLeNet(ZooModel):
    """GoogLeNet: the stem of Table 1, nine Inception modules, global pooling and a classifier.

    Args:
        layout: :data:`PAPER_LAYOUT` or :data:`TORCHVISION_LAYOUT`.
        num_classes: classifier outputs.
        in_chans: input channels.
        aux_logits: build the two auxiliary classifiers; in training mode ``forward`` then
            returns :class:`~cnnzoo.models.base.AuxOutputs` with ``aux_logits`` =
            ``(aux1, aux2)``, shallowest first (in eval mode the logits only).
        transform_input: re-normalise an ImageNet-normalised input to the (x - 0.5) / 0.5 range
            that torchvision's ported weights expect (3 channels only).
        dropout: dropout before the classifier (default: the layout's).
        dropout_aux: dropout of the auxiliary classifiers.
    """

    def __init__(
        self,
        layout: Layout,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        transform_input: bool = False,
        dropout: float | None = None,
        dropout_aux: float = DROPOUT_AUX,
    ) -> None:
        if transform_input and in_chans != 3:
            raise ValueError(f"transform_input needs 3 input channels, got in_chans={in_chans}")
        pool_kernels = {"maxpool3": 3, "maxpool4": layout.maxpool4_kernel}  # stride 2
        # The last 3x3/2 max-pool needs a 2x2 input, each 3x3/2 max-pool before it (ceil mode)
        # needs twice its output, and conv1 (7x7/2, pad 3) 2m - 1 for an output m: 2^(k+1) - 1 for
        # k such pools (maxpool1, maxpool2 and the stage pools of kernel 3). Checked by probing:
        # 15 in torchvision's layout (as torchvision states), 31 in the paper's.
        num_3x3_pools = 2 + sum(k == 3 for k in pool_kernels.values())
        super().__init__(
            num_classes=num_classes,
            in_chans=in_chans,
            min_input_size=2 ** (num_3x3_pools + 1) - 1,
        )
        self.layout = layout
        self.aux_logits, self.transform_input = aux_logits, transform_input
        self.trunk: tuple[str, ...] = ()  # the main path's attribute names, in order
        self.aux_taps: dict[str, str] = {}  # trunk name -> auxiliary head fed by its output

        c1, c2, c3 = STEM_WIDTHS
        self._append("conv1", conv_block(in_chans, c1, 7, layout, stride=2, padding=3))
        self._append("maxpool1", max_pool(3, 2))  # Table 1: max pool 3x3/2; N x 64 x 56 x 56
        if layout.lrn:
            self._append("lrn1", nn.LocalResponseNorm(LRN_SIZE, LRN_ALPHA, LRN_BETA))
        self._append("conv2", conv_block(c1, c2, 1, layout))  # Table 1: 3x3 reduce
        self._append("conv3", conv_block(c2, c3, 3, layout, padding=1))
        if layout.lrn:
            self._append("lrn2", nn.LocalResponseNorm(LRN_SIZE, LRN_ALPHA, LRN_BETA))
        self._append("maxpool2", max_pool(3, 2))  # Table 1: max pool 3x3/2; N x 192 x 28 x 28

        channels, aux_heads = c3, {}
        for name, widths in TABLE1.items():
            if name in POOL_BEFORE:
                self._append(POOL_BEFORE[name], max_pool(pool_kernels[POOL_BEFORE[name]], 2))
            self._append(name, Inception(channels, widths, layout))
            channels = widths.out_channels
            if name in AUX_AFTER:
                self.aux_taps[name] = AUX_AFTER[name]
                aux_heads[AUX_AFTER[name]] = InceptionAux(
                    channels, num_classes, layout, dropout=dropout_aux
                )
        # N x 1024 x 7 x 7 at 224 x 224
        for aux_name, head in aux_heads.items():
            setattr(self, aux_name, head if aux_logits else None)

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))  # Table 1: avg pool 7x7/1
        self.dropout = nn.Dropout(p=layout.dropout if dropout is None else dropout)
        self.fc = nn.Linear(channels, num_classes)
        self.num_features = channels
        init_weights(self, layout)

    def _append(self, name: str, module: nn.Module) -> None:
        self.add_module(name, module)
        self.trunk = (*self.trunk, name)

    def _run_trunk(self, x: torch.Tensor, with_aux: bool) -> tuple[torch.Tensor, dict]:
        if self.transform_input:
            # From ImageNet mean/std normalisation to (x - 0.5) / 0.5 (torchvision's port).
            mean = x.new_tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
            std = x.new_tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
            x = x * (std / 0.5) + (mean - 0.5) / 0.5
        aux_out: dict[str, torch.Tensor] = {}
        for name in self.trunk:
            x = getattr(self, name)(x)
            if with_aux and name in self.aux_taps:
                aux_out[self.aux_taps[name]] = getattr(self, self.aux_taps[name])(x)
        return x, aux_out

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._run_trunk(x, with_aux=False)[0]  # N x 1024 x 7 x 7 at 224 x 224

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pooling, dropout, ``fc``; ``pre_logits``: the pooled 1024-d vector ``fc`` reads (after
        the dropout, a no-op in eval mode)."""
        x = self.dropout(torch.flatten(self.avgpool(x), 1))  # N x 1024
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor | AuxOutputs:
        self.check_input(x)
        with_aux = self.training and self.aux_logits
        x, aux = self._run_trunk(x, with_aux)
        logits = self.forward_head(x)
        if with_aux:
            return AuxOutputs(logits, aux_logits=tuple(aux.values()))  # trunk order: aux1, aux2
        return logits

    def reset_classifier(self, num_classes: int) -> None:
        """New final layers for ``num_classes``, ``fc`` and each auxiliary head's ``fc2``,
        initialised by :func:`init_weights`."""
        self.fc = self._fresh_output(self.fc, num_classes)
        if self.aux_logits:
            for name in self.aux_taps.values():
                head = getattr(self, name)
                head.fc2 = self._fresh_output(head.fc2, num_classes)
        self.num_classes = num_classes

    def _fresh_output(self, old: nn.Linear, num_classes: int) -> nn.Linear:
        fc = fresh_linear(old, num_classes)
        init_weights(fc, self.layout)
        return fc


def init_weights(model: nn.Module, layout: Layout) -> None:
    """Initialise convolutions and linear layers.

    With batch norm (torchvision's layout): truncated normal N(0, 0.01) weights as torchvision's
    GoogLeNet. Without (the paper's, which gives no scheme): the BVLC Caffe reference model's
    "xavier" filler (Glorot & Bengio 2010, uniform with variance 1 / fan_in) and convolution
    biases 0.2, which keep the 22 layers trainable without normalisation. Linear biases 0, batch
    norm scale 1 and shift 0.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if layout.batch_norm:
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            else:
                # Caffe's xavier: U(-sqrt(3 / fan_in), +sqrt(3 / fan_in)); gain 1 with a=1.
                nn.init.kaiming_uniform_(m.weight, a=1)
            if m.bias is not None:
                is_plain_conv = isinstance(m, nn.Conv2d) and not layout.batch_norm
                nn.init.constant_(m.bias, 0.2 if is_plain_conv else 0.0)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def googlenet(**kwargs) -> GoogLeNet:
    """torchvision's GoogLeNet (BN, 3x3 "5x5" branch); options of :class:`GoogLeNet`."""
    return GoogLeNet(TORCHVISION_LAYOUT, **kwargs)


def googlenet_original(**kwargs) -> GoogLeNet:
    """GoogLeNet of Table 1 and Fig. 3 (5x5 branches, LRN, no BN); options of :class:`GoogLeNet`."""
    return GoogLeNet(PAPER_LAYOUT, **kwargs)


MODELS = (
    ModelSpec(
        "googlenet",
        googlenet,
        family="googlenet",
        paper=PAPER,
        year=2014,
        torchvision_name="googlenet",
        defaults={"aux_logits": True},
    ),
    ModelSpec(
        "googlenet_original",
        googlenet_original,
        family="googlenet",
        paper=PAPER,
        year=2014,
        defaults={"aux_logits": True},
    ),
)
