"""The figures of ``cnnzoo inspect``, drawn from views already computed (no model here).

Images arrive as un-normalised float tensors ``C x H x W`` in ``[0, 1]`` (``C`` is 1 or 3).
Every figure is made by :func:`cnnzoo.viz.figure.new_figure` and written by
:func:`cnnzoo.viz.figure.save_figure`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import torch

from cnnzoo.viz.figure import new_figure, save_figure

DPI = 110
MAP_CHANNELS = 8  # channels of each stage shown in a feature-map figure
SEPARATOR = 1.0  # the white line between the crops of one channel


def pixels(image: torch.Tensor) -> tuple[np.ndarray, dict]:
    """An image for ``imshow`` and its keywords (grey images with the grey colormap)."""
    array = image.detach().float().clamp(0, 1).cpu().numpy()
    if array.shape[0] == 1:
        return array[0], {"cmap": "gray", "vmin": 0.0, "vmax": 1.0}
    return array.transpose(1, 2, 0), {}


def bare(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def save_filters(path: Path, weight: torch.Tensor, title: str) -> Path:
    """The first convolution's filters (``out x in x k x k``) as a grid of small images, each
    scaled to its own range (grey for one input channel, colour for three; another number of
    input channels shows their mean)."""
    weight = weight.detach().float().cpu()
    if weight.shape[1] not in (1, 3):
        weight = weight.mean(1, keepdim=True)
    lo = weight.amin(dim=(1, 2, 3), keepdim=True)
    hi = weight.amax(dim=(1, 2, 3), keepdim=True)
    scaled = (weight - lo) / (hi - lo).clamp_min(1e-12)
    count = len(scaled)
    cols = min(count, 16)
    rows = math.ceil(count / cols)
    side = max(0.55, min(1.0, 6.0 / cols))
    fig = new_figure((max(side * cols, 5.0), side * 1.1 * rows + 0.6), dpi=DPI)
    fig.suptitle(title, fontsize=8)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        bare(ax)
        if i < count:
            image, kw = pixels(scaled[i])
            ax.imshow(image, interpolation="nearest", **kw)
            ax.set_title(str(i), fontsize=6, pad=1)
    return save_figure(fig, path)


def map_strip(maps: torch.Tensor, side: int) -> np.ndarray:
    """Feature maps ``C x h x w`` side by side, each enlarged (nearest) to about ``side`` pixels
    and scaled to ``[0, 1]`` over all of them, with gaps of NaN (drawn white)."""
    values = maps.float().cpu()
    lo, hi = float(values.min()), float(values.max())
    values = (values - lo) / (hi - lo if hi > lo else 1.0)
    scale = max(1, round(side / max(values.shape[1:])))
    big = values.repeat_interleave(scale, 1).repeat_interleave(scale, 2).numpy()
    c, h, w = big.shape
    gap = max(1, side // 10)
    strip = np.full((h, c * w + (c - 1) * gap), np.nan)
    for i in range(c):
        strip[:, i * (w + gap) : i * (w + gap) + w] = big[i]
    return strip


def save_feature_maps(
    path: Path,
    image: torch.Tensor,
    maps: Sequence[tuple[str, torch.Tensor]],
    title: str,
    channels: int = MAP_CHANNELS,
) -> Path:
    """One image and, per stage, its first ``channels`` feature maps (``C x h x w`` each), the
    maps of a stage on one scale (viridis: dark at the stage's lowest value, yellow at its
    highest), so that a 1x1 map still shows how strong each channel is. One strip per stage
    (a few axes draw much faster than one per map)."""
    side = max(image.shape[-2:])
    fig = new_figure((0.9 * channels + 1.5, 0.95 * (len(maps) + 1) + 0.6), dpi=DPI)
    fig.suptitle(title, fontsize=9)
    axes = fig.subplots(len(maps) + 1, 1, squeeze=False)[:, 0]
    shown, kw = pixels(image)
    axes[0].imshow(shown, interpolation="nearest", **kw)
    axes[0].set_anchor("W")
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    for ax, (_, fmap) in zip(axes[1:], maps, strict=True):
        c = fmap.shape[0]
        strip = map_strip(fmap[:channels], side)
        ax.imshow(strip, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_anchor("W")
        shown_c = min(c, channels)
        width = (strip.shape[1] + max(1, side // 10)) / shown_c
        ax.set_xticks([width * (i + 0.5) for i in range(shown_c)], [str(i) for i in range(shown_c)])
        ax.tick_params(length=0, labelsize=6, pad=1)
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    for ax, label in zip(
        axes,
        ["input", *(f"{n}\n{m.shape[0]}x{m.shape[1]}x{m.shape[2]}" for n, m in maps)],
        strict=True,
    ):
        ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
        if ax is axes[0]:
            ax.set_xticks([])
            ax.set_yticks([])
    return save_figure(fig, path)


def mosaic(crops: Sequence[torch.Tensor], side: int = 3) -> torch.Tensor:
    """Up to ``side * side`` crops (``C x h x w``, equal sizes) tiled row by row, with white
    lines between them."""
    c, h, w = crops[0].shape
    gap = max(1, round(max(h, w) / 16))
    out = torch.full((c, side * h + (side - 1) * gap, side * w + (side - 1) * gap), SEPARATOR)
    for i, image in enumerate(crops[: side * side]):
        r, q = divmod(i, side)
        out[:, r * (h + gap) : r * (h + gap) + h, q * (w + gap) : q * (w + gap) + w] = image
    return out


def save_top_images(
    path: Path,
    tiles: Sequence[tuple[int, float, torch.Tensor]],
    title: str,
) -> Path:
    """Each channel's top images as one 3 x 3 tile: ``tiles`` holds ``(channel, strongest
    value, tile image)``, drawn in a grid."""
    cols = min(len(tiles), 4)
    rows = math.ceil(len(tiles) / cols)
    fig = new_figure((1.75 * cols, 1.95 * rows + 0.5), dpi=DPI)
    fig.suptitle(title, fontsize=9)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        bare(ax)
        if i < len(tiles):
            channel, value, tile = tiles[i]
            image, kw = pixels(tile)
            ax.imshow(image, interpolation="nearest", **kw)
            ax.set_title(f"channel {channel}  (max {value:.2f})", fontsize=7, pad=2)
    return save_figure(fig, path)


def probability_bars(ax, top: Sequence[tuple[str, float]]) -> None:
    """Horizontal bars of the top classes (``[(class, probability), ...]``, most probable first,
    drawn on top in orange), each with its probability written beside or inside it."""
    names = [name for name, _ in top][::-1]
    probs = [p for _, p in top][::-1]
    bars = ax.barh(range(len(probs)), probs, color="#4c72b0")
    bars[-1].set_color("#dd8452")
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlim(0, 1)
    ax.tick_params(axis="x", labelsize=6)
    for y, p in enumerate(probs):
        inside = p > 0.75  # the number inside a long bar, in white
        ax.text(
            p - 0.02 if inside else p + 0.02,
            y,
            f"{p:.1%}",
            va="center",
            ha="right" if inside else "left",
            color="white" if inside else "black",
            fontsize=7,
        )
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def evidence_row(axes: Sequence, row: dict) -> None:
    """One row of :func:`save_evidence` on its four ``axes``: the image, its Grad-CAM over it,
    the gradient map, the top classes."""
    image, kw = pixels(row["image"])
    ax = axes[0]
    bare(ax)
    ax.imshow(image, interpolation="nearest", **kw)
    ax.set_title(row["name"], fontsize=7)
    ax = axes[1]
    bare(ax)
    ax.imshow(image, interpolation="nearest", **kw)
    cam = row["cam"].float().cpu().numpy()
    ax.imshow(cam / max(cam.max(), 1e-12), cmap="jet", alpha=0.45, vmin=0, vmax=1)
    ax = axes[2]
    bare(ax)
    ax.imshow(row["gradient"].float().cpu().numpy(), cmap="magma", interpolation="nearest")
    probability_bars(axes[3], row["top"])


def save_evidence(
    path: Path,
    rows: Sequence[dict],
    title: str,
    cam_title: str,
    gradient_title: str,
) -> Path:
    """Per image: the image, its Grad-CAM over it, the gradient method's map, and the top
    classes with their probabilities. Each row: ``image``, ``cam``, ``gradient`` (``H x W``),
    ``name`` and ``top`` (``[(class, probability), ...]``, most probable first)."""
    fig = new_figure((8.6, 1.75 * len(rows) + 0.5), dpi=DPI)
    fig.suptitle(title, fontsize=9)
    axes = fig.subplots(len(rows), 4, squeeze=False, width_ratios=(1, 1, 1, 1.6))
    for r, row in enumerate(rows):
        evidence_row(axes[r], row)
    for ax, column in zip(axes[0, 1:], (cam_title, gradient_title, "prediction"), strict=True):
        ax.set_title(column, fontsize=7)
    return save_figure(fig, path)
