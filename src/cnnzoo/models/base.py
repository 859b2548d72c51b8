"""The contract every network of the zoo keeps, and the record that registers it.

Every classifier of the zoo is a :class:`ZooModel`, and the tools (profiler, training engine,
benchmarks, export, t-SNE maps, architecture search) use nothing else of it:

- ``forward_features(x)``: the last feature map (``N x num_features x H' x W'``; for LeNet-5 the
  ``N x 120 x 1 x 1`` output of C5).
- ``forward_head(x, pre_logits=False)``: pooling, the hidden layers of the classifier, dropout and
  the final linear layer. With ``pre_logits=True`` it stops before the final layer and returns the
  ``N x num_features`` vector that layer reads: the pooled features for most networks, the 4096-d
  fc7 code for AlexNet, ZFNet and VGG, the 84-d F6 output for LeNet-5.
- ``forward(x)`` checks the input first, so a wrong shape fails with a message that names the model
  and what it accepts, then is ``forward_head(forward_features(x))``. In training mode a network
  with auxiliary classifiers (GoogLeNet, NASNet with ``aux_logits``) returns :class:`AuxOutputs`
  instead of a tensor; in eval mode every network returns the logits.
- ``num_features``, ``num_classes``, ``in_chans``: the width of the pre-logits vector, the
  classifier's outputs and the input channels.
- ``reset_classifier(num_classes)``: a new, freshly initialised final layer (and auxiliary
  classifiers) for another label set, keeping every other weight, to fine-tune a trained network.
- ``set_progress(fraction)``: the training engine calls it before every step with the fraction of
  training done (0 at the start, 1 at the end); a no-op unless a network's regulariser depends on
  it (NASNet's ScheduledDropPath).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn


class AuxOutputs(NamedTuple):
    """Training-mode output of a network with auxiliary classifiers (GoogLeNet, NASNet with
    ``aux_logits=True``): the main logits and the auxiliary heads' logits, shallowest head first.
    In eval mode those networks return the main logits alone."""

    logits: torch.Tensor
    aux_logits: tuple[torch.Tensor, ...]


def main_logits(output: torch.Tensor | AuxOutputs) -> torch.Tensor:
    """The main logits of any model's output, in either mode."""
    return output.logits if isinstance(output, AuxOutputs) else output


class ZooModel(nn.Module):
    """Base class of the zoo's classifiers (the contract is in the module docstring).

    Args:
        num_classes: outputs of the final classifier.
        in_chans: channels of the input images.
        min_input_size: the smallest height and width for which every layer still has a
            non-empty output.
        fixed_input_sizes: if not empty, the only square sizes the network accepts (a fixed
            flatten, as in LeNet-5).

    Subclasses call ``super().__init__(...)`` first, set ``num_features`` once the head is built,
    and implement ``forward_features``, ``forward_head`` and ``reset_classifier``.
    """

    model_name: str = ""

    def __init__(
        self,
        *,
        num_classes: int,
        in_chans: int,
        min_input_size: int = 1,
        fixed_input_sizes: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        if num_classes < 1 or in_chans < 1:
            raise ValueError(
                f"num_classes and in_chans must be positive, got {num_classes} and {in_chans}"
            )
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.min_input_size = min_input_size
        self.fixed_input_sizes = tuple(fixed_input_sizes)
        self.num_features = 0  # set by the subclass once its head is built

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def reset_classifier(self, num_classes: int) -> None:
        raise NotImplementedError

    def set_progress(self, fraction: float) -> None:
        """Called by the training engine before every step with the fraction of training done."""

    def forward(self, x: torch.Tensor) -> torch.Tensor | AuxOutputs:
        self.check_input(x)
        return self.forward_head(self.forward_features(x))

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ``ValueError`` naming the model when ``x`` is not an image batch it accepts."""
        check_input_shape(
            self.model_name or type(self).__name__,
            tuple(x.shape),
            in_chans=self.in_chans,
            min_size=self.min_input_size,
            fixed_sizes=self.fixed_input_sizes,
        )


def check_input_shape(
    name: str,
    shape: tuple[int, ...],
    *,
    in_chans: int,
    min_size: int = 1,
    fixed_sizes: tuple[int, ...] = (),
) -> None:
    """Validate an input shape ``(N, C, H, W)`` against what a network accepts.

    Args:
        name: the model's name, used in the message.
        shape: the input's shape.
        in_chans: the channel count the first layer expects.
        min_size: the smallest height and width the network accepts.
        fixed_sizes: if not empty, the only square sizes the network accepts.

    Raises:
        ValueError: with a message that names the model, the shape and what it accepts.
    """
    if len(shape) != 4:
        raise ValueError(
            f"{name}: expected a batch of images (N, C, H, W), got a tensor of shape {shape}"
        )
    _, chans, height, width = shape
    if chans != in_chans:
        raise ValueError(
            f"{name}: expected {in_chans} input channel(s), got {chans} (input shape {shape}); "
            f"create the model with in_chans={chans} to accept it"
        )
    if fixed_sizes:
        if height != width or height not in fixed_sizes:
            sizes = " or ".join(f"{in_chans}x{s}x{s}" for s in fixed_sizes)
            raise ValueError(
                f"{name}: input of {chans}x{height}x{width} is not accepted; "
                f"this network takes exactly {sizes}"
            )
        return
    if height < min_size or width < min_size:
        raise ValueError(
            f"{name}: input of {chans}x{height}x{width} is too small; the smallest input it "
            f"accepts is {in_chans}x{min_size}x{min_size}"
        )


@dataclass(frozen=True)
class ModelSpec:
    """One registered network: its builder and what the catalogue says about it.

    Args:
        name: registry name, e.g. ``"resnet50"``.
        builder: keyword-only function ``(num_classes=..., in_chans=..., **kwargs) -> ZooModel``.
        family: the family file it lives in, e.g. ``"resnet"``.
        paper: short citation of the paper that introduced it.
        year: the paper's year.
        input_size: the standard input ``(C, H, W)``; its ``C`` is ``create_model``'s default
            ``in_chans``.
        num_classes: classes of the dataset the paper trained it on (``create_model``'s
            default).
        torchvision_name: the name of torchvision's builder with the same layout and parameter
            names, or ``None`` where torchvision has no such model.
        defaults: keyword arguments the builder applies unless given (documentation only).
    """

    name: str
    builder: Callable[..., ZooModel]
    family: str
    paper: str
    year: int
    input_size: tuple[int, int, int] = (3, 224, 224)
    num_classes: int = 1000
    torchvision_name: str | None = None
    defaults: dict = field(default_factory=dict)
