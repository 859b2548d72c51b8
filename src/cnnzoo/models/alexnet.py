"""AlexNet: ImageNet Classification with Deep Convolutional Neural Networks, and ZFNet.

Krizhevsky, Sutskever & Hinton, NeurIPS 2012,
https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks
Krizhevsky, "One weird trick for parallelizing convolutional neural networks", 2014,
https://arxiv.org/abs/1404.5997 (the single-column layout torchvision ships as ``alexnet``)
Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
https://arxiv.org/abs/1311.2901 (ZFNet, Fig. 3)

Five convolutions and three fully connected layers (Sec. 3.5, Fig. 2). One class builds the three
networks from layer tables:

- ``alexnet``: torchvision's layout and parameter names (64-192-384-256-256 kernels, no LRN, no
  groups, dropout before the first two FC layers), from "One weird trick"; its checkpoints load.
- ``alexnet_original``: the 2012 network: 96-256-384-384-256 kernels, the two-GPU split of conv2, 4
  and 5 as ``groups=2`` (Sec. 3.2, Fig. 2), local response normalisation after conv1 and conv2
  (Sec. 3.3), overlapping 3x3/2 max-pooling (Sec. 3.4), 60,965,224 parameters.
- ``zfnet``: Zeiler & Fergus' single-GPU model of Fig. 3 (7x7/2 first layer, 5x5/2 second, dense
  layers); ``wide=True`` gives the bigger model with 512-1024-512 maps in layers 3-5 (Table 3).

Deviations from the paper:
- The 2012 paper states a 224x224 input, but its stride-4 11x11 first layer gives the 55x55 maps of
  Fig. 2 only from 227x227 (with no padding), so ``alexnet_original`` is registered at 227.
- An adaptive average pooling to 6x6 sits before the classifier of all three networks (as in
  torchvision), so inputs smaller than the paper's go through; at the paper's input size it is the
  identity.
- Dropout is PyTorch's inverted dropout, equivalent to the paper's halving of the outputs at test
  time (Sec. 4.2).
- ZFNet's pooling rounds up (``ceil_mode``, the convention of the Caffe-era code), which is what
  gives the 55x55 and 13x13 maps of Fig. 3 from 110x110 and 26x26. The paper's "contrast
  normalisation across feature maps" is taken to be AlexNet's LRN with the same constants (Zeiler &
  Fergus give none). Their filter renormalisation (RMS clipped at 0.1, Sec. 3) is a training rule
  and is not built into the model.
- ``alexnet`` keeps PyTorch's default initialisation, as torchvision does; the paper's
  N(0, 0.01) with unit biases needs the LRN layers it lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
from torch import nn

from cnnzoo.models.base import ModelSpec, ZooModel
from cnnzoo.models.layers import fresh_linear

PAPER = "Krizhevsky et al. 2012, NeurIPS"
PAPER_TRICK = "Krizhevsky et al. 2012, NeurIPS; layout of Krizhevsky 2014, arXiv:1404.5997"
PAPER_ZF = "Zeiler & Fergus 2013, arXiv:1311.2901"

FC_WIDTH = 4096  # Sec. 3.5 (AlexNet), Fig. 3 (ZFNet): two hidden FC layers of 4096 units
DROPOUT = 0.5  # Sec. 4.2 (AlexNet), Sec. 3 (ZFNet): dropout 0.5 on FC layers 6 and 7
HEAD_GRID = 6  # Fig. 2 / Fig. 3: the last pooled maps are 6x6
POOL_KERNEL, POOL_STRIDE = 3, 2  # Sec. 3.4: overlapping pooling, z = 3, s = 2 (also ZF Fig. 3)
# Sec. 3.3: b = a / (k + alpha * sum over n neighbouring maps of a^2)^beta.
LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K = 5, 1e-4, 0.75, 2.0
INIT_STD = 0.01  # Sec. 5 (AlexNet): weights N(0, 0.01); ZF Sec. 3: "initialized to 10^-2"
OUTPUT_BIAS = 0.0  # Sec. 5: bias 1 only in conv2, 4, 5 and the hidden FC layers
ZF_WIDE_WIDTHS = (512, 1024, 512)  # ZF Table 3: layers 3, 4, 5 with 512, 1024, 512 maps


class ConvLayer(NamedTuple):
    """One row of a layer table: a convolution, its ReLU, then optional LRN and max-pooling."""

    width: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1  # 2 where the 2012 network splits the layer over two GPUs
    lrn: bool = False
    pool: bool = False
    bias: float = 0.0  # initial bias (Sec. 5: 1 in conv2, 4, 5)


@dataclass(frozen=True)
class AlexNetConfig:
    """A whole network: its layer table and the conventions that differ between the papers.

    Args:
        layers: the convolutional layers, in order.
        head: the classifier as a sequence of ``"fc"``, ``"relu"``, ``"dropout"``.
        norm_after_pool: ZF order conv-ReLU-pool-norm (Fig. 3) instead of AlexNet's
            conv-ReLU-LRN-pool (Sec. 3.5).
        pool_ceil: round pooled sizes up (ZF Fig. 3).
        init_std: std of the normal weight init, or ``None`` to keep PyTorch's default.
        fc_bias: initial bias of the hidden FC layers.
    """

    layers: tuple[ConvLayer, ...]
    head: tuple[str, ...]
    norm_after_pool: bool = False
    pool_ceil: bool = False
    init_std: float | None = INIT_STD
    fc_bias: float = 0.0


# Dropout on the outputs of FC6 and FC7 (Sec. 4.2: "the first two fully-connected layers").
PAPER_HEAD = ("fc", "relu", "dropout", "fc", "relu", "dropout", "fc")
# torchvision drops the inputs of FC6 and FC7 instead.
TORCHVISION_HEAD = ("dropout", "fc", "relu", "dropout", "fc", "relu", "fc")

CONFIGS: dict[str, AlexNetConfig] = {
    # "One weird trick" (arXiv:1404.5997) layout, as torchvision builds it.
    "torchvision": AlexNetConfig(
        layers=(
            ConvLayer(64, 11, stride=4, padding=2, pool=True),
            ConvLayer(192, 5, padding=2, pool=True),
            ConvLayer(384, 3, padding=1),
            ConvLayer(256, 3, padding=1),
            ConvLayer(256, 3, padding=1, pool=True),
        ),
        head=TORCHVISION_HEAD,
        init_std=None,
    ),
    # Sec. 3.5 / Fig. 2: kernels 96@11x11x3/4, 256@5x5x48, 384@3x3x256, 384@3x3x192, 256@3x3x192;
    # conv3 is the only convolution connected across the two GPUs.
    "original": AlexNetConfig(
        layers=(
            ConvLayer(96, 11, stride=4, lrn=True, pool=True),  # 227 -> 55 -> 27
            ConvLayer(256, 5, padding=2, groups=2, lrn=True, pool=True, bias=1.0),  # 27 -> 13
            ConvLayer(384, 3, padding=1),
            ConvLayer(384, 3, padding=1, groups=2, bias=1.0),
            ConvLayer(256, 3, padding=1, groups=2, pool=True, bias=1.0),  # 13 -> 6
        ),
        head=PAPER_HEAD,
        fc_bias=1.0,  # Sec. 5: biases 1 in the fully connected hidden layers
    ),
    # ZF Fig. 3: 96@7x7/2 (224 -> 110 -> pool 55), 256@5x5/2 (55 -> 26 -> pool 13), 384, 384,
    # 256 @3x3 (13 -> pool 6); dense layers (one GPU); ZF Sec. 3: all biases 0.
    "zfnet": AlexNetConfig(
        layers=(
            ConvLayer(96, 7, stride=2, padding=1, lrn=True, pool=True),
            ConvLayer(256, 5, stride=2, lrn=True, pool=True),
            ConvLayer(384, 3, padding=1),
            ConvLayer(384, 3, padding=1),
            ConvLayer(256, 3, padding=1, pool=True),
        ),
        head=PAPER_HEAD,
        norm_after_pool=True,
        pool_ceil=True,
    ),
}


def local_response_norm() -> nn.LocalResponseNorm:
    """Sec. 3.3 LRN. PyTorch divides ``alpha`` by the window size ``n``; the paper does not, so
    ``alpha * n`` is passed to get the paper's ``k + alpha * sum a^2``."""
    return nn.LocalResponseNorm(LRN_SIZE, alpha=LRN_ALPHA * LRN_SIZE, beta=LRN_BETA, k=LRN_K)


def make_features(config: AlexNetConfig, in_chans: int) -> nn.Sequential:
    """Convolutions with ReLU, then LRN and max-pooling where the table asks, in the paper's order.

    Without LRN the indices of the layers are torchvision's (``features.0``, ``features.3``, ...).
    """
    layers: list[nn.Module] = []
    channels = in_chans
    for row in config.layers:
        layers.append(
            nn.Conv2d(channels, row.width, row.kernel, row.stride, row.padding, groups=row.groups)
        )
        layers.append(nn.ReLU(inplace=True))
        norm = [local_response_norm()] if row.lrn else []
        pool = (
            [nn.MaxPool2d(POOL_KERNEL, POOL_STRIDE, ceil_mode=config.pool_ceil)] if row.pool else []
        )
        layers += pool + norm if config.norm_after_pool else norm + pool
        channels = row.width
    return nn.Sequential(*layers)


def make_classifier(
    head: tuple[str, ...], in_features: int, num_classes: int, dropout: float
) -> nn.Sequential:
    """The fully connected layers in the order ``head`` gives; the last ``"fc"`` is the output."""
    num_fc = head.count("fc")
    widths = iter([FC_WIDTH] * (num_fc - 1) + [num_classes])
    simple = {"relu": lambda: nn.ReLU(inplace=True), "dropout": lambda: nn.Dropout(p=dropout)}
    layers: list[nn.Module] = []
    for op in head:
        if op == "fc":
            width = next(widths)
            layers.append(nn.Linear(in_features, width))
            in_features = width
        else:
            layers.append(simple[op]())
    return nn.Sequential(*layers)


def widen(config: AlexNetConfig, widths: tuple[int, ...], *, first: int) -> AlexNetConfig:
    """``config`` with the layers from index ``first`` on given the new ``widths``."""
    layers = list(config.layers)
    for i, width in enumerate(widths, start=first):
        layers[i] = layers[i]._replace(width=width)
    return replace(config, layers=tuple(layers))


def min_input_size(config: AlexNetConfig) -> int:
    """The smallest square input every layer accepts, found by running the table backwards from a
    1x1 output: a convolution needs ``(out - 1) * stride + kernel - 2 * padding`` inputs, a pool
    ``(out - 1) * stride + kernel`` rounding down, and ``stride - 1`` fewer rounding up (the last
    window may then hang over the edge by up to ``stride - 1``)."""
    size = 1
    for row in reversed(config.layers):
        if row.pool:
            overhang = POOL_STRIDE - 1 if config.pool_ceil else 0
            size = (size - 1) * POOL_STRIDE + POOL_KERNEL - overhang
        size = max((size - 1) * row.stride + row.kernel - 2 * row.padding, 1)
    return size


class AlexNet(ZooModel):
    """An AlexNet-style network built from an :class:`AlexNetConfig`.

    Args:
        config: one of :data:`CONFIGS` (or a variant of one).
        num_classes: classifier outputs.
        in_chans: input channels.
        dropout: dropout probability of the hidden FC layers.
    """

    def __init__(
        self,
        config: AlexNetConfig,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        dropout: float = DROPOUT,
    ) -> None:
        super().__init__(
            num_classes=num_classes, in_chans=in_chans, min_input_size=min_input_size(config)
        )
        self.config = config
        last_width = config.layers[-1].width
        self.features = make_features(config, in_chans)
        self.avgpool = nn.AdaptiveAvgPool2d((HEAD_GRID, HEAD_GRID))
        self.classifier = make_classifier(
            config.head, last_width * HEAD_GRID * HEAD_GRID, num_classes, dropout
        )
        self.num_features = FC_WIDTH
        if config.init_std is not None:
            init_weights(self, config)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # N x 256 x 6 x 6 at the paper's input size

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pooling and the FC layers; ``pre_logits``: the 4096-d fc7 code the output layer reads."""
        x = torch.flatten(self.avgpool(x), 1)  # N x 9216 at the paper's input size
        if pre_logits:  # the whole classifier otherwise, so hooks on it still fire
            return self.classifier[:-1](x)  # N x 4096
        return self.classifier(x)

    def reset_classifier(self, num_classes: int) -> None:
        """A new output layer for ``num_classes``, initialised as :func:`init_weights` does
        (PyTorch's default where the config has no ``init_std``)."""
        fc = fresh_linear(self.classifier[-1], num_classes)
        if self.config.init_std is not None:
            init_layer(fc, self.config.init_std, OUTPUT_BIAS)
        self.classifier[-1] = fc
        self.num_classes = num_classes


def init_weights(model: AlexNet, config: AlexNetConfig) -> None:
    """Weights N(0, ``init_std``) (Krizhevsky et al. 2012, Sec. 5; Zeiler & Fergus 2013, Sec. 3);
    biases from the table: 1 in conv2, conv4, conv5 and the hidden FC layers of AlexNet (Sec. 5,
    "to accelerate the early stages of learning by providing the ReLUs with positive inputs"), 0
    elsewhere and everywhere in ZFNet."""
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    fcs = [m for m in model.classifier if isinstance(m, nn.Linear)]
    biases = [row.bias for row in config.layers] + [config.fc_bias] * (len(fcs) - 1)
    for m, bias in zip(convs + fcs, [*biases, OUTPUT_BIAS], strict=True):
        init_layer(m, config.init_std, bias)


def init_layer(layer: nn.Conv2d | nn.Linear, std: float, bias: float) -> None:
    """Weights N(0, ``std``), biases ``bias``."""
    nn.init.normal_(layer.weight, 0.0, std)
    nn.init.constant_(layer.bias, bias)


def alexnet(**kwargs) -> AlexNet:
    """torchvision's AlexNet ("One weird trick" layout); its checkpoints load unchanged."""
    return AlexNet(CONFIGS["torchvision"], **kwargs)


def alexnet_original(**kwargs) -> AlexNet:
    """AlexNet as in the 2012 paper: two-GPU groups, LRN, 227x227 input."""
    return AlexNet(CONFIGS["original"], **kwargs)


def zfnet(*, wide: bool = False, **kwargs) -> AlexNet:
    """ZFNet (Fig. 3); ``wide=True``: layers 3-5 with 512, 1024, 512 maps (Table 3)."""
    config = CONFIGS["zfnet"]
    if wide:
        config = widen(config, ZF_WIDE_WIDTHS, first=2)
    return AlexNet(config, **kwargs)


MODELS = (
    ModelSpec(
        "alexnet",
        alexnet,
        family="alexnet",
        paper=PAPER_TRICK,
        year=2012,
        torchvision_name="alexnet",
    ),
    ModelSpec(
        "alexnet_original",
        alexnet_original,
        family="alexnet",
        paper=PAPER,
        year=2012,
        input_size=(3, 227, 227),
    ),
    ModelSpec(
        "zfnet", zfnet, family="alexnet", paper=PAPER_ZF, year=2013, defaults={"wide": False}
    ),
)
