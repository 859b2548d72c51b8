"""timm's parameter names -> ours, for the networks timm also has.

:func:`cnnzoo.load_weights` (and ``create_model(name, weights=PATH)``) accepts a state dict saved
from timm (``torch.save(timm_model.state_dict(), path)``) for the models of
:data:`TIMM_MAPPINGS`: when the file's keys are not ours, it renames them with the model's rules
and, if the renamed keys fit better, loads those with ``strict=True``. The rules are
``(regex, replacement)`` pairs applied in order, each with :func:`re.sub`, to every key; nothing
but names changes (the tensors of the four networks correspond one to one, same shapes).

Measured with timm 1.0.31 (``tests/models/test_timm_weights.py``): with the same weights, our
outputs equal timm's to float32 rounding (atol 1e-5) where both pad the same way:

- ``inception_v4``, ``inception_resnet_v2``: timm pads symmetrically, as we do; there is no
  padding option.
- ``mobilenet_v1`` (timm ``mobilenetv1_100``): same names and padding; the rules are empty.
- ``nasnet_a_large`` (timm ``nasnetalarge``): we pad symmetrically; timm's ``nasnetalarge``
  builder forces ``pad_type="same"`` (TensorFlow's asymmetric "SAME", the padding its ported
  weights were trained with), which moves random-weight logits by about 2e-3. Build
  ``timm.models.nasnet.NASNetALarge(pad_type="")`` to get timm's symmetric padding and our outputs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

import torch


class TimmMapping(NamedTuple):
    """How one of our models reads a timm state dict.

    Args:
        timm_name: the name of timm's model with the same tensors.
        rules: ``(regex, replacement)`` pairs, applied in order with :func:`re.sub` to each key.
    """

    timm_name: str
    rules: tuple[tuple[str, str], ...]
    # timm's test-time preprocessing of these weights (its ``pretrained_cfg``): the centre crop's
    # share of the resized side, the resampling filter and the normalisation
    crop_fraction: float = 0.875
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def rename(self, key: str) -> str:
        """Our name for timm's parameter or buffer ``key``."""
        for pattern, replacement in self.rules:
            key = re.sub(pattern, replacement, key)
        return key

    def convert(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``state`` with every key renamed (the tensors are not copied)."""
        return {self.rename(key): value for key, value in state.items()}


# timm's InceptionV4.features is one flat Sequential; its i-th module is our module _V4_TRUNK[i]
# (Fig. 9: the stem of Fig. 3, 4 x A, Reduction-A, 7 x B, Reduction-B, 3 x C).
_V4_TRUNK = (
    "stem.conv1a",
    "stem.conv2a",
    "stem.conv2b",
    "stem.mixed3a",
    "stem.mixed4a",
    "stem.mixed5a",
    *(f"inception_a.{i}" for i in range(4)),
    "reduction_a.0",
    *(f"inception_b.{i}" for i in range(7)),
    "reduction_b.0",
    *(f"inception_c.{i}" for i in range(3)),
)

INCEPTION_V4 = TimmMapping(
    "inception_v4",
    (
        # features.i -> the stem layer or stage block it is
        *((rf"^features\.{i}\.", f"{name}.") for i, name in enumerate(_V4_TRUNK)),
        # Mixed_3a is (max-pool, conv) in both; timm names the conv, we number it branch 1
        (r"^stem\.mixed3a\.conv\.", "stem.mixed3a.branch1."),
        # Mixed_5a is (conv, max-pool): the conv is our branch 0
        (r"^stem\.mixed5a\.conv\.", "stem.mixed5a.branch0."),
        # Inception-C's split 1x3 | 3x1 pair: branch1_1a / branch1_1b -> branch1.1.branch0 / 1
        (r"\.branch(\d)_(\d)a\.", r".branch\1.\2.branch0."),
        (r"\.branch(\d)_(\d)b\.", r".branch\1.\2.branch1."),
        # Inception-C's other layers are flat attributes: branch2_1 -> branch2.1
        (r"\.branch(\d)_(\d)\.", r".branch\1.\2."),
        (r"^last_linear\.", "fc."),  # the classifier
    ),
)

INCEPTION_RESNET_V2 = TimmMapping(
    "inception_resnet_v2",
    (
        # the stem convolutions Conv2d_1a ... Conv2d_4a (TF-slim names) and Mixed_5b
        (r"^conv2d_([1-4][ab])\.", r"stem.conv\1."),
        (r"^mixed_5b\.", "stem.mixed5b."),
        # the stages: repeat / repeat_1 / repeat_2 are the A / B / C blocks, mixed_6a / 7a the
        # reductions (single blocks, index 0 of our stages)
        (r"^repeat\.", "inception_resnet_a."),
        (r"^mixed_6a\.", "reduction_a.0."),
        (r"^repeat_1\.", "inception_resnet_b."),
        (r"^mixed_7a\.", "reduction_b.0."),
        (r"^repeat_2\.", "inception_resnet_c."),
        # timm keeps the last C block (no ReLU, scale 1) apart; it is our 10th C block
        (r"^block8\.", "inception_resnet_c.9."),
        # inside a residual block our branches sit in one Mixed module, ``branches``
        (r"^(inception_resnet_[abc]\.\d+)\.(branch\d)\.", r"\1.branches.\2."),
        # the block's 1x1 linear convolution
        (r"^(inception_resnet_[abc]\.\d+)\.conv2d\.", r"\1.conv."),
        (r"^conv2d_7b\.", "conv7b."),  # the 1x1 convolution to 1536 before pooling
        (r"^classif\.", "fc."),  # the classifier
    ),
    crop_fraction=0.8975,  # timm's inception_resnet_v2 pretrained_cfg
)

MOBILENET_V1 = TimmMapping("mobilenetv1_100", ())  # timm's names are ours

NASNET_A_LARGE = TimmMapping(
    "nasnetalarge",
    (
        # the factorized reduction of h_{i-1} is one module for us, ``conv_prev_1x1``; timm keeps
        # its two shifted 1x1 convolutions and the BN on the cell (our path_k.1: after the pool)
        (r"^(\w+)\.path_([12])\.conv\.", r"\1.conv_prev_1x1.path_\2.1."),
        (r"^(\w+)\.final_path_bn\.", r"\1.conv_prev_1x1.final_path_bn."),
        # block j's two operations: comb_iter_j_left / _right -> blocks.j.left / right
        (r"\.comb_iter_(\d)_(left|right)\.", r".blocks.\1.\2."),
        # the two halves of a separable convolution
        (r"\.(depthwise|pointwise)_conv2d\.", r".\1."),
        (r"^last_linear\.", "fc."),  # the classifier
    ),
    crop_fraction=0.911,  # timm's nasnetalarge pretrained_cfg
)

TIMM_MAPPINGS: dict[str, TimmMapping] = {
    "inception_v4": INCEPTION_V4,
    "inception_resnet_v2": INCEPTION_RESNET_V2,
    "mobilenet_v1": MOBILENET_V1,
    "nasnet_a_large": NASNET_A_LARGE,
}
