"""The drawing steps of ``cnnzoo inspect``: :class:`~cnnzoo.inside.views.Views` -> the folder's
figures (drawn by :mod:`~cnnzoo.inside.figures`) and evidence arrays, each step returning the files
it wrote.
"""

from __future__ import annotations

from pathlib import Path

import torch

from cnnzoo.data.base import unnormalise
from cnnzoo.inside import figures
from cnnzoo.inside.images import TestImages, top_pool
from cnnzoo.inside.layers import Layer, first_conv
from cnnzoo.inside.topk import K, TopK, crop, field_box
from cnnzoo.inside.views import LayerPlan, Views, save_evidence_arrays
from cnnzoo.source import Source


def draw_filters(stage: Path, model: torch.nn.Module, title: str) -> list[str]:
    """``filters.png`` of the first convolution (none without one); the files written."""
    conv = first_conv(model)
    if conv is None:
        return []
    name, module = conv
    c_out, c_in, kh, kw = module.weight.shape
    figures.save_filters(
        stage / "filters.png",
        module.weight,
        f"{title}: the {c_out} filters of the first convolution {name} ({c_in}x{kh}x{kw})",
    )
    return ["filters.png"]


def draw_maps(
    stage: Path, display: list[torch.Tensor], views: Views, stages: list[Layer], title: str
) -> list[str]:
    """``maps-<i>.png``: each shown image (``display``, in ``[0, 1]``) and its stages' maps."""
    files = []
    for i, image in enumerate(display):
        p = views.predictions[i]["top"][0]
        figures.save_feature_maps(
            stage / f"maps-{i}.png",
            image,
            [(layer.name, views.maps[layer.name][i]) for layer in stages],
            f"{title}: feature maps after each stage\n{views.shown.names[i]} -> predicted "
            f"{p['class']} ({p['probability']:.1%})",
        )
        files.append(f"maps-{i}.png")
    return files


def top_tiles(
    top: TopK,
    layer: Layer,
    pool: dict[int, torch.Tensor],
    record: dict,
    input: tuple[int, int, int],
    channels: int,
) -> list[tuple[int, float, torch.Tensor]]:
    """``(channel, strongest value, 3 x 3 mosaic of its top crops)`` of the first
    ``channels`` channels of ``layer``."""
    tiles = []
    for c in range(min(channels, len(top.values))):
        crops = [
            crop(
                unnormalise(pool[int(i)], record["mean"], record["std"]),
                field_box(layer.field, int(r), int(q), *input[1:]),
            )
            for i, (r, q) in zip(top.images[c].tolist(), top.positions[c].tolist(), strict=True)
        ]
        tiles.append((c, float(top.values[c, 0]), figures.mosaic(crops)))
    return tiles


def draw_tops(
    stage: Path,
    views: Views,
    chosen: list[Layer],
    test: TestImages,
    source: Source,
    channels: int,
    title: str,
) -> list[str]:
    """``top9-<layer>.png`` for each chosen layer: its channels' top images, cropped."""
    pool = top_pool(test, views.tops)
    files = []
    for layer in chosen:
        tiles = top_tiles(
            views.tops[layer.name], layer, pool, source.record, source.input, channels
        )
        stem = f"top9-{layer.name}.png"
        figures.save_top_images(
            stage / stem,
            tiles,
            f"{title}\n{layer.name}: each channel's top {K} of {views.ranked:,} test images, "
            f"cropped to its {layer.field.h.size}x{layer.field.w.size} receptive field",
        )
        files.append(stem)
    return files


def draw_evidence(
    stage: Path,
    display: list[torch.Tensor],
    views: Views,
    cam_layer: Layer,
    gradient: str,
    title: str,
) -> list[str]:
    """``evidence.png``: each shown image, its Grad-CAM, its gradient map, its top classes."""
    figures.save_evidence(
        stage / "evidence.png",
        [
            {
                "image": display[i],
                "cam": views.cams[i],
                "gradient": views.gradients[i],
                "name": views.shown.names[i],
                "top": [(r["class"], r["probability"]) for r in views.predictions[i]["top"][:3]],
            }
            for i in range(len(display))
        ],
        f"{title}: evidence for the predicted class",
        f"Grad-CAM at {cam_layer.name}",
        gradient.replace("-", " "),
    )
    return ["evidence.png"]


def write_figures(
    stage: Path,
    views: Views,
    plan: LayerPlan,
    source: Source,
    test: TestImages,
    channels: int,
    gradient: str,
) -> list[str]:
    """Every figure and array of the folder, drawn from ``views``; the files written, in order."""
    title = f"{source.label} ({source.name}, {source.record['name']})"
    mean, std = source.record["mean"], source.record["std"]
    display = [unnormalise(x, mean, std) for x in views.shown.images]
    return [
        *draw_filters(stage, source.model, title),
        *draw_maps(stage, display, views, plan.stages, title),
        *draw_tops(stage, views, plan.chosen, test, source, channels, title),
        *draw_evidence(stage, display, views, plan.cam, gradient, title),
        *save_evidence_arrays(stage, views),
    ]
