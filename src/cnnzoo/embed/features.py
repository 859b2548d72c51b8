"""The vectors a map is made of: one per image, from the model contract or from a named layer.

By default a model's code for an image is ``forward_head(forward_features(x), pre_logits=True)``:
the input of its last layer (the 4096-d fc7 of AlexNet and VGG, 84-d F6 of LeNet-5, the pooled
vector of the others). ``layer`` taps any module instead; a spatial output is average-pooled over
its positions, and the forward pass stops at that module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import nn

from cnnzoo.data.base import unnormalise
from cnnzoo.progress import Progress

THUMB_SIDE = 32  # the side of a map's thumbnails; larger images are shrunk to it


def layer_names(model: nn.Module) -> list[str]:
    """The names ``--layer`` accepts: every submodule's, in definition order."""
    return [name for name, _ in model.named_modules() if name]


def pooled(output: torch.Tensor) -> torch.Tensor:
    """``(N, C, ...)`` -> ``(N, C)`` by averaging over the positions; ``(N, D)`` unchanged."""
    output = output.float()
    return output.mean(dim=tuple(range(2, output.dim()))) if output.dim() > 2 else output


class _Reached(Exception):
    """Raised by the hook to end a forward pass once the tapped layer has run."""


def first_tensor(output) -> torch.Tensor:
    """A module's output tensor (the first of a tuple, e.g. a cell's ``(out, prev)``)."""
    while isinstance(output, tuple | list):
        output = output[0]
    return output


def feature_function(model: nn.Module, layer: str | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function ``images -> (N, D)`` float features of ``model`` (in eval mode).

    Raises:
        ValueError: ``layer`` names no submodule (the message lists the names that exist).
    """
    if layer is None:
        return lambda x: model.forward_head(model.forward_features(x), pre_logits=True).float()
    modules = dict(model.named_modules())
    if not layer or layer not in modules:
        name = getattr(model, "model_name", None) or type(model).__name__
        raise ValueError(
            f"--layer {layer!r} is not a layer of {name}; its layers: "
            + ", ".join(layer_names(model))
        )
    module = modules[layer]

    def features(x: torch.Tensor) -> torch.Tensor:
        taken: list[torch.Tensor] = []

        def hook(_module, _inputs, output):
            taken.append(pooled(first_tensor(output)))
            raise _Reached

        handle = module.register_forward_hook(hook)
        try:
            model(x)
        except _Reached:
            pass
        finally:
            handle.remove()
        return taken[0]

    return features


def thumbnails(images: torch.Tensor, side: int = THUMB_SIDE) -> np.ndarray:
    """``uint8 (N, C, H, W)`` -> ``uint8 (N, h, w, C)``, shrunk (antialiased) to ``side`` when
    larger."""
    if max(images.shape[-2:]) > side:
        images = (
            torch.nn.functional.interpolate(
                images.float(), size=(side, side), mode="bilinear", antialias=True
            )
            .round()
            .clamp(0, 255)
            .to(torch.uint8)
        )
    return images.permute(0, 2, 3, 1).contiguous().numpy()


def unnormalised(x: torch.Tensor, mean, std) -> torch.Tensor:
    """Normalised float images back to ``uint8`` (for thumbnails of folder images)."""
    return (unnormalise(x, mean, std) * 255).round().to(torch.uint8)


@torch.inference_mode()
def extract(
    features: Callable[[torch.Tensor], torch.Tensor],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    total: int,
    progress: Progress | None = None,
    keep_images: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[torch.Tensor]]:
    """Run ``features`` over ``batches`` of ``(images, labels)``.

    Args:
        features: from :func:`feature_function`.
        batches: the model's inputs and the labels.
        total: the number of images (for the progress bar).
        progress: called as ``(description, done, total)`` after every batch.
        keep_images: maps each input batch to ``uint8`` images to keep (folder datasets'
            thumbnails); ``None`` keeps none.

    Returns:
        ``features`` float32 ``(N, D)``, ``labels`` int64 ``(N,)`` and the kept images.
    """
    chunks, labels, kept = [], [], []
    done = 0
    for x, y in batches:
        chunks.append(features(x).cpu().numpy().astype(np.float32, copy=False))
        labels.append(y.cpu().numpy())
        if keep_images is not None:
            kept.append(keep_images(x))
        done += len(y)
        if progress:
            progress("features", done, total)
    if not chunks:
        raise ValueError("no images to embed")
    return np.concatenate(chunks), np.concatenate(labels).astype(np.int64), kept
