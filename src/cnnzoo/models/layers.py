"""Building blocks shared by several families."""

from __future__ import annotations

from torch import nn


class ConvNormAct(nn.Sequential):
    """Convolution, optional batch norm, optional ReLU.

    The submodule names ``conv`` and ``bn`` match torchvision's ``BasicConv2d`` (GoogLeNet,
    Inception), so checkpoints load unchanged.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        *,
        groups: int = 1,
        norm: bool = True,
        act: bool = True,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        # A convolution followed by batch norm needs no bias (the norm's shift replaces it).
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=not norm
        )
        if norm:
            self.bn = nn.BatchNorm2d(out_channels, eps=bn_eps)
        if act:
            self.relu = nn.ReLU(inplace=True)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to the nearest multiple of ``divisor``, never more than 10% down."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def init_he_fan_out(model: nn.Module, *, linear_std: float = 0.01) -> None:
    """He et al. 2015 normal init (fan-out mode, ReLU gain) for every convolution, N(0,
    ``linear_std``) for linear layers, zero biases, unit batch-norm scale and zero shift."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)


def fresh_linear(old: nn.Linear, out_features: int) -> nn.Linear:
    """A new linear layer for ``reset_classifier``: ``old``'s inputs, bias, device and dtype,
    ``out_features`` outputs and PyTorch's default init (the family re-initialises it where it
    has a scheme of its own)."""
    return nn.Linear(
        old.in_features,
        out_features,
        bias=old.bias is not None,
        device=old.weight.device,
        dtype=old.weight.dtype,
    )
