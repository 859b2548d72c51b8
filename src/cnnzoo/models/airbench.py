"""The CIFAR-10 speed-run network: "94% on CIFAR-10 in 3.29 Seconds on a Single GPU".

Jordan 2024, arXiv:2404.00498 (the ``airbench94`` network of its released code).

A network built to learn as much as possible per second, not per parameter: no
residual connections, eight weight layers, and every wide convolution placed after a max-pool so
that it runs on small maps. The input goes through

- a 2 x 2 convolution without padding to 24 channels and GELU (the paper initialises it as a
  whitening of the 2 x 2 patches of the training images and freezes it);
- three blocks, each ``conv 3x3 -> max-pool 2 -> BN -> GELU -> conv 3x3 -> BN -> GELU``, of 64,
  256 and 256 channels (the convolutions without bias: batch norm shifts);
- a max-pool over the whole map (the paper's 3 x 3 pool, which is global on its 3 x 3 maps) and a
  linear layer without bias.

On a 32 x 32 image the maps are 31 (the unpadded 2 x 2 convolution), 15, 7 and 3 pixels a side; on
a 28 x 28 one 27, 13, 6 and 3. ``airbench94_half`` halves the block widths (32, 128, 128), about
a quarter of the multiply-adds: the network that reaches 94 % on Fashion-MNIST in under 6 minutes
on two CPU cores (``benchmarks/results/fashion_mnist_speedrun.md``).

Deviations from the paper:
- The first layer is an ordinary trained convolution with PyTorch's default initialisation: the
  paper's whitening initialisation needs the training images, which a model builder does not
  see, and its freezing is a training rule.
- The other convolutions keep PyTorch's default initialisation, not the paper's partial identity
  (Dirac) initialisation: on Fashion-MNIST it gave nothing (one seed of the speed run, 93.87 %
  against 93.93 %; ``benchmarks/results/fashion_mnist_speedrun_exploration.md``).
- Batch norm keeps a trainable scale and PyTorch's momentum and epsilon, and the logits are not
  multiplied by the paper's constant 1/9: those change the optimisation, not the functions the
  network can compute, and the recipe (``cnnzoo.train.recipes``) was tuned without them.
- The head's max-pool is adaptive (over the whole map), so that any input from 9 x 9 up gives one
  vector; on 28-32 pixel images that is the paper's 3 x 3 pool.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import NamedTuple

import torch
from torch import nn

from cnnzoo.models.base import ModelSpec, ZooModel
from cnnzoo.models.layers import fresh_linear

PAPER = "Jordan 2024, arXiv:2404.00498"

STEM_KERNEL = 2  # Sec. 3: the first layer is a 2 x 2 convolution without padding
STEM_WIDTH = 24  # Sec. 3: 2 * 3 * 2 * 2, a whitening filter and its negative per patch dimension
BLOCK_WIDTHS = (64, 256, 256)  # Sec. 3: the three blocks' widths
KERNEL = 3  # Sec. 3: every convolution after the first is 3 x 3, padded to keep the size
POOL = 2  # Sec. 3: a 2 x 2 max-pool after each block's first convolution
# Smallest side with a non-empty output: the stem takes one pixel, each of three pools halves.
MIN_INPUT_SIZE = (STEM_KERNEL - 1) + POOL**3


class AirbenchLayout(NamedTuple):
    """What distinguishes the variants: the first layer's and the three blocks' widths."""

    stem_width: int
    block_widths: tuple[int, int, int]


PAPER_LAYOUT = AirbenchLayout(STEM_WIDTH, BLOCK_WIDTHS)
HALF_LAYOUT = AirbenchLayout(STEM_WIDTH, tuple(w // 2 for w in BLOCK_WIDTHS))


class ConvGroup(nn.Sequential):
    """One block of Sec. 3: ``conv 3x3 -> max-pool 2 -> BN -> GELU -> conv 3x3 -> BN -> GELU``.

    The pool comes straight after the first convolution, so the second convolution, the norms and
    the activations all run on the halved map.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, out_channels, KERNEL, padding=1, bias=False),
                pool=nn.MaxPool2d(POOL),
                bn1=nn.BatchNorm2d(out_channels),
                act1=nn.GELU(),
                conv2=nn.Conv2d(out_channels, out_channels, KERNEL, padding=1, bias=False),
                bn2=nn.BatchNorm2d(out_channels),
                act2=nn.GELU(),
            )
        )


class Airbench(ZooModel):
    """The speed-run network of Sec. 3 (see the module docstring).

    Args:
        layout: :data:`PAPER_LAYOUT` or :data:`HALF_LAYOUT`.
        num_classes: classifier outputs.
        in_chans: input channels.
    """

    def __init__(self, layout: AirbenchLayout, *, num_classes: int = 10, in_chans: int = 3) -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, min_input_size=MIN_INPUT_SIZE)
        widths = (layout.stem_width, *layout.block_widths)
        self.stem = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(in_chans, layout.stem_width, STEM_KERNEL),  # N x 24 x 31 x 31
                act=nn.GELU(),
            )
        )
        self.blocks = nn.Sequential(
            OrderedDict(
                (f"block{i + 1}", ConvGroup(c_in, c_out))  # 15, 7, 3 pixels a side
                for i, (c_in, c_out) in enumerate(itertools.pairwise(widths))
            )
        )
        self.num_features = layout.block_widths[-1]
        self.pool = nn.AdaptiveMaxPool2d(1)  # the paper's 3 x 3 max-pool on its 3 x 3 maps
        self.fc = nn.Linear(self.num_features, num_classes, bias=False)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))  # N x 256 x 3 x 3 on 28-32 pixel images

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """The max over the whole map, then the linear layer; ``pre_logits``: the pooled vector."""
        x = torch.flatten(self.pool(x), 1)  # N x num_features
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, num_classes: int) -> None:
        """A new linear layer (no bias, PyTorch's default init) for ``num_classes``."""
        self.fc = fresh_linear(self.fc, num_classes)
        self.num_classes = num_classes


def airbench94(**kwargs) -> Airbench:
    """The network of Sec. 3: blocks of 64, 256 and 256 channels (1.97 M parameters)."""
    return Airbench(PAPER_LAYOUT, **kwargs)


def airbench94_half(**kwargs) -> Airbench:
    """Half the block widths, 32, 128 and 128 channels (0.50 M parameters): the CPU speed run's."""
    return Airbench(HALF_LAYOUT, **kwargs)


MODELS = tuple(
    ModelSpec(
        fn.__name__,
        fn,
        family="airbench",
        paper=PAPER,
        year=2024,
        input_size=(3, 32, 32),
        num_classes=10,
    )
    for fn in (airbench94, airbench94_half)
)
