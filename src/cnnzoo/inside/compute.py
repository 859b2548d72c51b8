"""The numbers behind the views of ``cnnzoo inspect``, computed before any figure is drawn: the
layers shown, the predictions and feature maps (one forward pass), the class evidence.
"""

from __future__ import annotations

import torch

from cnnzoo.inside.evidence import GRADIENT_METHODS, grad_cam
from cnnzoo.inside.layers import Layer, caught, choose_layers, find_layers, stage_ends
from cnnzoo.inside.views import LayerPlan, Shown
from cnnzoo.source import Source


def plan_layers(source: Source, names: tuple[str, ...]) -> LayerPlan:
    """The layers of ``source``'s network to show; ``names`` picks the top-image layers
    (default: the stage ends).

    Raises:
        ValueError: a network without a layer, or an unknown name (one line).
    """
    layers = find_layers(source.model, source.input)
    if not layers:
        raise ValueError(f"{source.name} has no feature map with a local receptive field to show")
    stages = stage_ends(source.model, layers)
    chosen = choose_layers(names, layers) if names else stages
    spatial = [layer for layer in stages if layer.shape[1] * layer.shape[2] > 1]
    return LayerPlan(layers, stages, chosen, (spatial or stages or layers)[-1])


def forward_with_maps(
    model: torch.nn.Module, images: torch.Tensor, layers: list[Layer]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The class probabilities of ``images`` (``N x classes``) and the outputs of ``layers``
    (name -> ``N x C x H x W``), on the CPU, from one forward pass."""
    with torch.no_grad(), caught(model, [layer.name for layer in layers]) as maps:
        probs = model.forward_head(model.forward_features(images)).float().softmax(1).cpu()
    return probs, {name: value.cpu() for name, value in maps.items()}


def prediction_records(probs: torch.Tensor, shown: Shown, class_names: list[str]) -> list[dict]:
    """Per shown image: its name, test index, label and top-5 classes with probabilities."""
    top = probs.topk(min(5, probs.shape[1]), dim=1)
    return [
        {
            "name": name,
            "index": index,
            "label": label,
            "top": [
                {"class": class_names[i], "index": i, "probability": p}
                for p, i in zip(values.tolist(), classes.tolist(), strict=True)
            ],
        }
        for name, index, label, values, classes in zip(
            shown.names, shown.indices, shown.labels, top.values, top.indices, strict=True
        )
    ]


def class_evidence(
    model: torch.nn.Module, layer: Layer, images: torch.Tensor, targets: torch.Tensor, gradient: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM at ``layer`` and the ``gradient`` method's map of ``targets`` (``N x H x W``
    each, on the CPU)."""
    cams = grad_cam(model, layer.name, images, targets).cpu()
    return cams, GRADIENT_METHODS[gradient](model, images, targets).cpu()
