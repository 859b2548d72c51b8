"""VGG: Very Deep Convolutional Networks for Large-Scale Image Recognition.

Simonyan & Zisserman, ICLR 2015, https://arxiv.org/abs/1409.1556

The networks are stacks of 3x3 convolutions (stride 1, padding 1) with 2x2 max-pooling (stride 2)
between stages, followed by three fully connected layers (Sec. 2.1). Configurations A, B, D and E of
Table 1 are VGG-11, -13, -16 and -19.

Deviations from the paper:
- Parameter names and the classifier follow torchvision, so its checkpoints load unchanged: an
  adaptive average pooling to 7x7 sits before the classifier, which makes it the identity at 224x224
  and lets smaller inputs through.
- The ``_bn`` variants add batch normalisation after each convolution (not in the paper; it
  post-dates it), as torchvision does.
- Configuration A-LRN (local response normalisation, found useless in Sec. 4.1) and configuration
  C (1x1 convolutions in the last three stages) are not built.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.models.base import ModelSpec, ZooModel
from cnnzoo.models.layers import fresh_linear, init_he_fan_out

PAPER = "Simonyan & Zisserman 2015, arXiv:1409.1556"

# Table 1: output channels of each 3x3 convolution, "M" for a 2x2/2 max-pool ending a stage.
CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],  # VGG-11
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],  # VGG-13
    "D": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        "M",
    ],  # VGG-16
    "E": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ],  # VGG-19
}

FC_WIDTH = 4096  # Sec. 2.1: two FC layers of 4096 channels
DROPOUT = 0.5  # Sec. 3.1: dropout ratio 0.5 on the first two FC layers
HEAD_GRID = 7  # 224 / 2^5: the spatial size after five max-pools at the paper's input


def make_features(config: list[int | str], in_chans: int, batch_norm: bool) -> nn.Sequential:
    """The convolutional part: 3x3/1 convolutions with padding 1 (Sec. 2.1), ReLU, max-pools."""
    layers: list[nn.Module] = []
    channels = in_chans
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))  # Sec. 2.1: 2x2, stride 2
            continue
        layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=True))
        channels = item
    return nn.Sequential(*layers)


class VGG(ZooModel):
    """A VGG network built from one column of Table 1.

    Args:
        config: a list of convolution widths and ``"M"`` pools (see :data:`CONFIGS`).
        batch_norm: add batch normalisation after every convolution.
        num_classes: classifier outputs.
        in_chans: input channels.
        dropout: dropout probability of the first two fully connected layers.
    """

    def __init__(
        self,
        config: list[int | str],
        *,
        batch_norm: bool = False,
        num_classes: int = 1000,
        in_chans: int = 3,
        dropout: float = DROPOUT,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            in_chans=in_chans,
            min_input_size=2 ** config.count("M"),  # each 2x2/2 pool halves, flooring
        )
        last_width = [c for c in config if c != "M"][-1]
        self.features = make_features(config, in_chans, batch_norm)
        self.avgpool = nn.AdaptiveAvgPool2d((HEAD_GRID, HEAD_GRID))
        self.classifier = nn.Sequential(
            nn.Linear(last_width * HEAD_GRID * HEAD_GRID, FC_WIDTH),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(FC_WIDTH, FC_WIDTH),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(FC_WIDTH, num_classes),
        )
        self.num_features = FC_WIDTH
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # N x 512 x 7 x 7 at 224 x 224

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pooling and the FC layers; ``pre_logits``: the 4096-d fc7 code the output layer reads."""
        x = torch.flatten(self.avgpool(x), 1)  # N x 25088
        if pre_logits:  # the whole classifier otherwise, so hooks on it still fire
            return self.classifier[:-1](x)  # N x 4096
        return self.classifier(x)

    def reset_classifier(self, num_classes: int) -> None:
        """A new output layer for ``num_classes``, initialised by :func:`init_weights`."""
        fc = fresh_linear(self.classifier[-1], num_classes)
        init_weights(fc)
        self.classifier[-1] = fc
        self.num_classes = num_classes


def init_weights(model: nn.Module) -> None:
    """He et al. 2015 normal init for convolutions (the paper's Sec. 3.1 pre-trained config A
    first; torchvision and later work use He init instead), N(0, 0.01) for the classifier
    (Sec. 3.1), zero biases, unit batch-norm scale."""
    init_he_fan_out(model, linear_std=0.01)


def vgg11(**kwargs) -> VGG:
    return VGG(CONFIGS["A"], **kwargs)


def vgg13(**kwargs) -> VGG:
    return VGG(CONFIGS["B"], **kwargs)


def vgg16(**kwargs) -> VGG:
    return VGG(CONFIGS["D"], **kwargs)


def vgg19(**kwargs) -> VGG:
    return VGG(CONFIGS["E"], **kwargs)


def vgg11_bn(**kwargs) -> VGG:
    return VGG(CONFIGS["A"], batch_norm=True, **kwargs)


def vgg13_bn(**kwargs) -> VGG:
    return VGG(CONFIGS["B"], batch_norm=True, **kwargs)


def vgg16_bn(**kwargs) -> VGG:
    return VGG(CONFIGS["D"], batch_norm=True, **kwargs)


def vgg19_bn(**kwargs) -> VGG:
    return VGG(CONFIGS["E"], batch_norm=True, **kwargs)


MODELS = tuple(
    ModelSpec(fn.__name__, fn, family="vgg", paper=PAPER, year=2014, torchvision_name=fn.__name__)
    for fn in (vgg11, vgg13, vgg16, vgg19, vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn)
)
