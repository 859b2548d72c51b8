"""The contract every network of the zoo keeps, and the record that registers it.

Every classifier splits into ``forward_features`` (the image embedding: the last feature map, or
the pooled vector where the paper's network has no spatial output) and ``forward_head`` (pooling,
dropout, classifier). ``forward`` checks the input first, so a wrong shape fails with a message that
names the model and what it accepts instead of an error from deep inside PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn


class ZooModel(nn.Module):
    """Base class of the zoo's classifiers.

    Subclasses set ``in_chans``, ``num_classes`` and ``min_input_size`` (the smallest height and
    width for which every layer still has a non-empty output) in ``__init__`` and implement
    ``forward_features`` and ``forward_head``. A network that accepts only some sizes (a fixed
    flatten, as in LeNet-5) sets ``fixed_input_sizes`` instead.
    """

    in_chans: int = 3
    num_classes: int = 1000
    min_input_size: int = 1
    fixed_input_sizes: tuple[int, ...] = ()
    model_name: str = ""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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
