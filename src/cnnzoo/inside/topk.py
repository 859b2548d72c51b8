"""Each channel's strongest test images and the part of each image the channel saw (Zeiler and
Fergus 2014, "Visualizing and Understanding Convolutional Networks", Figure 2: the top-9
activations of a feature map, each shown as the image patch under its receptive field).

For every image and channel the strongest position of the channel's map is kept (its value and
its row and column); the ``k`` images with the largest values are the channel's top images, ties
broken by the lower image index. The patch of a position is its receptive field in input pixels
(the profiler's ``size``, ``jump`` and ``start``): centred at ``start + index * jump``, ``size``
wide, clipped at the image border (:func:`field_box`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from cnnzoo.analysis.report import FieldDim, ReceptiveField
from cnnzoo.inside.layers import Layer, hooked

K = 9  # Zeiler and Fergus show the top 9 activations of each feature map


@dataclass(frozen=True)
class Box:
    """A receptive field in input pixels: rows ``top:bottom`` and columns ``left:right`` of the
    image (clipped at its border), and where the unclipped field would start (``field_top``,
    ``field_left``, may be negative) and its side (``size_h``, ``size_w``)."""

    top: int
    bottom: int
    left: int
    right: int
    field_top: int
    field_left: int
    size_h: int
    size_w: int

    def as_list(self) -> list[int]:
        return [self.top, self.bottom, self.left, self.right]


@dataclass(frozen=True)
class TopK:
    """A layer's top images per channel.

    Args:
        layer: the layer's name.
        values: ``C x k`` the strongest activation of each top image, largest first.
        images: ``C x k`` their indices (in the split the images came from).
        positions: ``C x k x 2`` the row and column of that activation in the map.
    """

    layer: str
    values: torch.Tensor
    images: torch.Tensor
    positions: torch.Tensor


def field_span(dim: FieldDim, index: int, length: int) -> tuple[int, int, int]:
    """Input pixels ``[lo, hi)`` that the field of map position ``index`` covers, clipped to
    ``[0, length)``, and the unclipped start (input pixel ``i`` spans ``[i, i + 1)``)."""
    centre = dim.start + index * dim.jump
    first = math.floor(centre - dim.size / 2 + 1e-9)
    last = math.ceil(centre + dim.size / 2 - 1e-9)
    return max(first, 0), min(last, length), first


def field_box(field: ReceptiveField, row: int, col: int, height: int, width: int) -> Box:
    """The receptive field of map position ``(row, col)`` in an input of ``height x width``."""
    top, bottom, field_top = field_span(field.h, row, height)
    left, right, field_left = field_span(field.w, col, width)
    return Box(top, bottom, left, right, field_top, field_left, field.h.size, field.w.size)


def crop(image: torch.Tensor, box: Box, fill: float = 0.5) -> torch.Tensor:
    """The field ``box`` of ``image`` (``C x H x W``), the part outside the image filled with
    ``fill``, so that every crop of a layer has the field's size."""
    out = torch.full((image.shape[0], box.size_h, box.size_w), fill, dtype=image.dtype)
    dy, dx = box.top - box.field_top, box.left - box.field_left
    out[:, dy : dy + box.bottom - box.top, dx : dx + box.right - box.left] = image[
        :, box.top : box.bottom, box.left : box.right
    ]
    return out


def channel_maxima(output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``N x C x H x W`` -> the strongest value of each image's channel (``N x C``) and its
    flat position in the map (the first of equal maxima)."""
    flat = output.flatten(2)
    values, where = flat.max(dim=2)
    return values, where


def select_top(
    values: torch.Tensor, where: torch.Tensor, indices: torch.Tensor, width: int, k: int
):
    """The ``k`` best images of each channel from per-image maxima ``values`` (``N x C``), their
    flat positions ``where`` and the images' ``indices`` (``N``); ties go to the lower index."""
    order = torch.argsort(indices, stable=True)  # ties -> lower image index first
    values, where, indices = values[order], where[order], indices[order]
    k = min(k, len(indices))
    ranked = torch.sort(values.t(), dim=1, descending=True, stable=True).indices[:, :k]  # C x k
    top_values = values.t().gather(1, ranked)
    top_where = where.t().gather(1, ranked)
    positions = torch.stack((top_where // width, top_where % width), dim=-1)
    return top_values, indices[ranked], positions


@torch.no_grad()
def top_images(
    model: nn.Module,
    layers: list[Layer],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    k: int = K,
) -> dict[str, TopK]:
    """Each channel's ``k`` strongest images of every layer, in one pass over ``batches``.

    Args:
        model: the network, in eval mode.
        layers: the layers to rank (each module must run once per forward pass).
        batches: ``(images, indices)``: normalised input batches and the split indices of their
            images.
        k: images kept per channel.

    Returns:
        Layer name -> :class:`TopK`.
    """
    kept: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {layer.name: [] for layer in layers}
    seen: list[torch.Tensor] = []

    def record(name: str, output: torch.Tensor) -> None:
        values, where = channel_maxima(output.detach().float())
        kept[name].append((values.cpu(), where.cpu()))

    with hooked(model, [layer.name for layer in layers], record):
        for images, indices in batches:
            model.forward_head(model.forward_features(images))
            seen.append(indices.cpu())
    indices = torch.cat(seen)
    result = {}
    for layer in layers:
        values = torch.cat([v for v, _ in kept[layer.name]])
        where = torch.cat([w for _, w in kept[layer.name]])
        top = select_top(values, where, indices, layer.shape[2], k)
        result[layer.name] = TopK(layer.name, *top)
    return result
