"""The views of ``cnnzoo inspect`` as data, and the folder's record of them.

The data types the other modules pass along (:class:`LayerPlan`, :class:`Shown`, :class:`Views`)
and the files that hold the numbers: ``views.json`` (written by :func:`write_views`, read back by
:func:`read_views` and :func:`read_folder`: the report reads through them), ``cams.npy`` and
``gradients.npy``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnzoo.files import write_atomic, write_text_atomic
from cnnzoo.inside.layers import Layer, first_conv
from cnnzoo.inside.topk import TopK, field_box
from cnnzoo.reading import json_object, regular_file
from cnnzoo.source import Source

VIEWS = "views.json"  # the folder's record (write_views writes it, read_views reads it)
VIEWS_KEYS = (
    "source",
    "model",
    "dataset",
    "input",
    "class_names",
    "seed",
    "layers",
    "stages",
    "filters",
    "images",
    "cam_layer",
    "gradient",
    "top_from",
    "top",
    "seconds",
    "files",
)


@dataclass(frozen=True)
class LayerPlan:
    """The layers of a network that ``cnnzoo inspect`` shows.

    Args:
        layers: every layer (:func:`~cnnzoo.inside.layers.find_layers`).
        stages: the end of each stage (their feature maps are drawn).
        chosen: the layers whose channels get their top images.
        cam: the layer Grad-CAM weighs: the last stage end with a map larger than 1x1 (else
            the last stage end, else the last layer).
    """

    layers: list[Layer]
    stages: list[Layer]
    chosen: list[Layer]
    cam: Layer


@dataclass(frozen=True)
class Shown:
    """The images shown (feature maps, evidence, predictions).

    Args:
        images: ``N x C x H x W`` normalised, on the source's device.
        names: how each is named (its file, or its test index and class).
        indices: each one's index in the test split (``None`` for a file).
        labels: each one's class index (``None`` for a file).
    """

    images: torch.Tensor
    names: list[str]
    indices: list[int | None]
    labels: list[int | None]


@dataclass(frozen=True)
class Views:
    """The numbers behind the figures, computed before any figure is drawn.

    Args:
        shown: the images shown.
        predictions: :func:`~cnnzoo.inside.compute.prediction_records` of them.
        maps: stage end -> its feature maps of the shown images.
        cams, gradients: their evidence maps (``N x H x W``).
        tops: layer -> each channel's top test images.
        ranked: how many test images were ranked for ``tops``.
    """

    shown: Shown
    predictions: list[dict]
    maps: dict[str, torch.Tensor]
    cams: torch.Tensor
    gradients: torch.Tensor
    tops: dict[str, TopK]
    ranked: int


def field_record(layer: Layer) -> dict:
    return {
        "name": layer.name,
        "shape": list(layer.shape),
        "field": dataclasses.asdict(layer.field),
    }


def top_record(top: TopK, layer: Layer, input: tuple[int, int, int]) -> list[dict]:
    """Per channel: its top images, values, map positions and receptive-field boxes."""
    _, height, width = input
    return [
        {
            "channel": c,
            "images": top.images[c].tolist(),
            "values": top.values[c].tolist(),
            "positions": top.positions[c].tolist(),
            "boxes": [
                field_box(layer.field, int(r), int(q), height, width).as_list()
                for r, q in top.positions[c].tolist()
            ],
        }
        for c in range(len(top.values))
    ]


def filters_record(model: torch.nn.Module) -> dict | None:
    """The first convolution's name and weight shape (``None`` without one)."""
    conv = first_conv(model)
    if conv is None:
        return None
    name, module = conv
    return {"layer": name, "shape": list(module.weight.shape)}


def seconds_record(marks: list[float]) -> dict[str, float]:
    """The seconds of each step from the clock ``marks`` taken at the start and after
    loading, maps, evidence, top images and figures."""
    started, loaded, mapped, explained, topped, finished = marks
    return {
        "load": loaded - started,
        "maps": mapped - loaded,
        "evidence": explained - mapped,
        "top": topped - explained,
        "figures": finished - topped,
        "total": finished - started,
    }


def views_record(
    source: Source,
    class_names: list[str],
    seed: int,
    gradient: str,
    plan: LayerPlan,
    views: Views,
    seconds: dict[str, float],
    files: list[str],
) -> dict:
    """The content of ``views.json`` (:data:`VIEWS_KEYS`)."""
    return {
        "source": str(source.path),
        "model": source.name,
        "dataset": source.record["name"],
        "input": list(source.input),
        "class_names": class_names,
        "seed": seed,
        "layers": [field_record(layer) for layer in plan.layers],
        "stages": [layer.name for layer in plan.stages],
        "filters": filters_record(source.model),
        "images": views.predictions,
        "cam_layer": plan.cam.name,
        "gradient": gradient,
        "top_from": views.ranked,
        "top": {
            layer.name: top_record(views.tops[layer.name], layer, source.input)
            for layer in plan.chosen
        },
        "seconds": seconds,
        "files": files,
    }


def write_views(folder: Path, record: dict) -> Path:
    """``views.json`` in ``folder``, written atomically."""
    return write_text_atomic(folder / VIEWS, json.dumps(record, indent=1) + "\n")


def read_views(text: str) -> dict:
    """An inspect folder's ``views.json`` (as :func:`write_views` writes it) from its text.

    Raises:
        ValueError: one line naming the file: not JSON, not an object, or without one of
            :data:`VIEWS_KEYS`.
    """
    return json_object(text, VIEWS, VIEWS_KEYS)


def read_folder(folder: Path) -> dict:
    """The ``views.json`` of an inspect folder, read as a regular file inside it."""
    try:
        path = regular_file(folder / VIEWS, within=folder, what=f"{folder}:")
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as err:
        raise ValueError(f"{folder}: cannot read its {VIEWS}: {err}") from None
    return read_views(text)


def save_array(path: Path, array: np.ndarray) -> Path:
    """An ``.npy`` file, written atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)

    return write_atomic(path, write)


def save_evidence_arrays(stage: Path, views: Views) -> list[str]:
    """``cams.npy`` and ``gradients.npy``; the files written."""
    for stem, array in (("cams", views.cams), ("gradients", views.gradients)):
        save_array(stage / f"{stem}.npy", array.numpy())
    return ["cams.npy", "gradients.npy"]
