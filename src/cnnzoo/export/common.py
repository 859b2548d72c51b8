"""What both exporters share: the module they trace (the logits, or the logits and some feature
maps), and splitting calibration batches to the batch size a file was exported with."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from cnnzoo.source import Logits


def traceable(model: nn.Module) -> nn.Module:
    """The eval-mode module to export: the model's logits (:class:`~cnnzoo.source.Logits`)."""
    return Logits(model.eval()).eval()


class LogitsAndMaps(nn.Module):
    """The model's logits, then the outputs of the modules ``names`` names (its feature maps), as
    one tuple: what an export with extra outputs traces. The forward hooks that catch the maps
    stay on the model until :meth:`release`.

    Raises:
        ValueError: a name that is not a module of the model (one line).
    """

    def __init__(self, model: nn.Module, names: Sequence[str]) -> None:
        super().__init__()
        self.net = Logits(model.eval()).eval()
        self.names = tuple(names)
        # The exporter warns of tensors assigned to a module's attributes while it traces; these
        # are the traced values of the maps, returned at once (export_onnx silences the warning).
        self.caught: dict[str, torch.Tensor] = {}
        modules = dict(model.named_modules())
        unknown = [n for n in self.names if not n or n not in modules]
        if unknown:
            raise ValueError(
                f"--feature-maps: {', '.join(map(repr, unknown))} is not a module of "
                f"{model_name(model)} (cnnzoo inspect lists its layers)"
            )
        self.handles = [
            modules[n].register_forward_hook(
                lambda m, args, out, n=n: self.caught.__setitem__(n, out)
            )
            for n in self.names
        ]
        self.eval()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits = self.net(x)
        return (logits, *(self.caught[n] for n in self.names))

    def release(self) -> None:
        """Remove the hooks from the model."""
        for handle in self.handles:
            handle.remove()


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
