"""The layers of a network as ``cnnzoo inspect`` names them, their receptive fields, and their
outputs caught with forward hooks.

A layer is a module of the model named by its path (``features.c3``, ``layer2``, as ``cnnzoo
summary`` names them) that runs once per forward pass and returns a feature map (``N x C x H x
W``) with a local receptive field (not a global pooling). The default layers are the ends of the
stages: the network's top-level modules in the order they run, consecutive modules of the same
output shape taken as one stage and its last module kept; a top-level module that holds several
stages itself (LeNet-5's ``features``) is opened the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from cnnzoo.analysis.profiler import profile
from cnnzoo.analysis.report import ReceptiveField


@dataclass(frozen=True)
class Layer:
    """A module whose output ``cnnzoo inspect`` can show.

    Args:
        name: its path in the model.
        shape: ``(C, H, W)`` of its output for the source's input.
        field: the receptive field of that output, in input pixels (the profiler's).
    """

    name: str
    shape: tuple[int, int, int]
    field: ReceptiveField


def field_of(rows, name: str) -> ReceptiveField | None:
    """The receptive field of module ``name``'s output: its own profiler row, or the last row
    inside it (what a container returns), as :func:`cnnzoo.analysis.report.collapse` takes it."""
    inside = [r for r in rows if r.name == name or r.name.startswith(f"{name}.")]
    return inside[-1].receptive_field if inside else None


def find_layers(model: nn.Module, input: tuple[int, int, int]) -> list[Layer]:
    """Every module of ``model`` that is a layer (see the module docstring), in the order their
    outputs are made, measured with one forward pass of a blank image.

    Args:
        model: the network (any device; it is not changed).
        input: ``(C, H, W)`` of its input.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    calls: dict[str, int] = {}
    order: list[str] = []

    def record(name: str, output) -> None:
        calls[name] = calls.get(name, 0) + 1
        if name not in shapes:
            order.append(name)
        shapes[name] = tuple(output.shape) if isinstance(output, torch.Tensor) else ()

    names = [n for n, _ in model.named_modules() if n]
    device = next(model.parameters()).device
    with hooked(model, names, record), torch.no_grad():
        model.forward_head(model.forward_features(torch.zeros(1, *input, device=device)))
    rows = profile(model, input).rows
    layers = []
    for name in order:
        shape = shapes[name]
        field = field_of(rows, name)
        if calls[name] == 1 and len(shape) == 4 and field is not None and not field.is_global:
            layers.append(Layer(name, tuple(shape[1:]), field))
    return layers


def stage_ends(model: nn.Module, layers: list[Layer]) -> list[Layer]:
    """The default layers: the last layer of each stage (see the module docstring)."""
    by_name = {layer.name: layer for layer in layers}
    rank = {layer.name: i for i, layer in enumerate(layers)}

    def ends(prefix: str, module: nn.Module) -> list[Layer]:
        kids = [
            by_name[f"{prefix}{n}"] for n, _ in module.named_children() if f"{prefix}{n}" in by_name
        ]
        kids.sort(key=lambda layer: rank[layer.name])
        chosen: list[Layer] = []
        for i, kid in enumerate(kids):
            if i + 1 < len(kids) and kids[i + 1].shape == kid.shape:
                continue  # the stage goes on
            run_start = i
            while run_start > 0 and kids[run_start - 1].shape == kid.shape:
                run_start -= 1
            inner = ends(f"{kid.name}.", model.get_submodule(kid.name))
            if run_start == i and len({layer.shape for layer in inner}) > 1:
                chosen.extend(inner)  # a module that holds several stages
            else:
                chosen.append(kid)
        return chosen

    return ends("", model)


def choose_layers(names: tuple[str, ...], layers: list[Layer]) -> list[Layer]:
    """The layers ``names`` names, in the order given.

    Raises:
        ValueError: one line naming an unknown layer, the closest names and every valid one.
    """
    by_name = {layer.name: layer for layer in layers}
    for name in names:
        if name not in by_name:
            ends = [n for n in by_name if n.endswith(f".{name}")]
            close = ends[:3] or difflib.get_close_matches(name, by_name, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(
                f"--layers: {name!r} is not a layer of this network{hint}; its layers are "
                + ", ".join(by_name)
            )
    return [by_name[name] for name in dict.fromkeys(names)]


@contextmanager
def hooked(
    model: nn.Module, names: list[str], record: Callable[[str, object], None]
) -> Iterator[None]:
    """Inside the block, every forward pass calls ``record(name, output)`` for each module of
    ``model`` named in ``names``, as it returns; the hooks are removed when the block ends."""

    def hook(name: str):
        return lambda module, args, output: record(name, output)

    handles = [model.get_submodule(n).register_forward_hook(hook(n)) for n in names]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def caught(model: nn.Module, names: list[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Inside the block, every forward pass leaves a copy of each named module's output in the
    yielded dict (a copy: an in-place activation after the module cannot change it)."""
    outputs: dict[str, torch.Tensor] = {}

    def record(name: str, output: torch.Tensor) -> None:
        outputs[name] = output.detach().clone()

    with hooked(model, names, record):
        yield outputs


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d] | None:
    """The first ``Conv2d`` the input meets (registration order, which is the order the zoo's
    networks run their stems in); ``None`` for a network without one."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    return None
