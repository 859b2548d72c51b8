"""What both exporters share: the module they trace, and splitting calibration batches to the batch
size a file was exported with."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

from cnnzoo.source import Logits


def traceable(model: nn.Module) -> nn.Module:
    """The eval-mode module to export: the model's logits (:class:`~cnnzoo.source.Logits`)."""
    return Logits(model.eval()).eval()


def model_name(model: nn.Module) -> str:
    """The registry name of a zoo model, else its class name."""
    return getattr(model, "model_name", "") or type(model).__name__


def rebatch(batches: Iterable[torch.Tensor], batch: int | None) -> Iterator[torch.Tensor]:
    """``batches`` cut into pieces of exactly ``batch`` samples (a short remainder is dropped);
    unchanged when ``batch`` is ``None`` (a dynamic batch dimension)."""
    for images in batches:
        if batch is None:
            yield images
            continue
        for piece in images.split(batch):
            if piece.shape[0] == batch:
                yield piece.contiguous()


def run_batched(
    run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch: int | None
) -> torch.Tensor:
    """``run`` over ``x`` in pieces of the file's static ``batch`` (all at once if dynamic)."""
    if batch is None or x.shape[0] == batch:
        return run(x)
    if x.shape[0] % batch:
        raise ValueError(f"the file was exported for batches of {batch}; got {x.shape[0]} images")
    return torch.cat([run(piece.contiguous()) for piece in x.split(batch)])
