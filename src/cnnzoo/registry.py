"""Name -> builder table of the zoo, ``create_model`` and ``list_models``.

The table is explicit: each family file ends with a ``MODELS`` tuple of :class:`ModelSpec`, and
:data:`REGISTRY` is built once from those tuples. Registering a name twice raises.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import torch

from cnnzoo.models import FAMILIES
from cnnzoo.models.base import ModelSpec, ZooModel


class Registry(Mapping[str, ModelSpec]):
    """An immutable-by-convention mapping from model name to :class:`ModelSpec`."""

    def __init__(self, specs: Iterable[ModelSpec] = ()) -> None:
        self._specs: dict[str, ModelSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ModelSpec) -> None:
        """Add ``spec``; raise ``ValueError`` if its name is taken."""
        if spec.name in self._specs:
            other = self._specs[spec.name]
            raise ValueError(
                f"model name {spec.name!r} is registered twice "
                f"(families {other.family!r} and {spec.family!r})"
            )
        self._specs[spec.name] = spec

    def __getitem__(self, name: str) -> ModelSpec:
        try:
            return self._specs[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._specs, n=5, cutoff=0.5)
            hint = f"; closest names: {', '.join(close)}" if close else ""
            raise ValueError(
                f"unknown model {name!r}{hint} (see `cnnzoo list` for all names)"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching the shell-style ``pattern``, sorted."""
        return sorted(n for n in self._specs if fnmatch.fnmatchcase(n, pattern))


REGISTRY = Registry(spec for family in FAMILIES for spec in family.MODELS)


def list_models(pattern: str = "*") -> list[str]:
    """Names of the registered models that match the shell-style ``pattern``, sorted."""
    return REGISTRY.names(pattern)


def get_model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; an unknown name raises ``ValueError`` with hints."""
    return REGISTRY[name]


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    in_chans: int | None = None,
    weights: str | os.PathLike | None = None,
    **kwargs,
) -> ZooModel:
    """Build a model of the zoo by name.

    Args:
        name: a name from :func:`list_models`.
        num_classes: size of the classifier output; default: the classes of the dataset the
            paper used (1000 for ImageNet networks, 10 for LeNet-5 and the CIFAR ResNets).
        in_chans: channels of the input images; default: those of the paper's input (3, or 1
            for LeNet-5).
        weights: optional path of a local checkpoint (a torchvision ``.pth`` state dict, or a
            cnnzoo checkpoint holding one under ``"model"``); loaded with ``weights_only=True``
            and ``strict=True``. Nothing is ever downloaded.
        **kwargs: architecture options of the family (see each builder).

    Returns:
        The model, in training mode.

    Raises:
        ValueError: unknown name, bad option, or a checkpoint that does not fit the model.
    """
    spec = REGISTRY[name]
    try:
        model = spec.builder(
            num_classes=spec.num_classes if num_classes is None else num_classes,
            in_chans=spec.input_size[0] if in_chans is None else in_chans,
            **kwargs,
        )
    except TypeError as err:
        raise ValueError(f"{name}: bad option: {err}") from None
    model.model_name = name
    if weights is not None:
        load_weights(model, weights)
    return model


def load_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Load a local checkpoint into ``model`` with ``weights_only=True`` and ``strict=True``.

    Raises:
        ValueError: the file is missing, is not a tensor checkpoint, or its keys or shapes do not
            match the model; the message names the file and the first differences.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights file {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors, non-tensor objects, truncated files
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"weights file {str(path)!r} cannot be loaded as a tensors-only checkpoint: "
            f"{first_line}"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    elif isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"weights file {str(path)!r} holds no state dict")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape") and state[k].shape != own[k].shape
    ]
    problems = [
        f"{label} ({len(items)}): {', '.join(items[:4])}{', ...' if len(items) > 4 else ''}"
        for label, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches (file vs model)", wrong_shape),
        )
        if items
    ]
    if problems:
        raise ValueError(
            f"weights file {str(path)!r} does not fit the model: " + "; ".join(problems)
        )
    model.load_state_dict(state, strict=True)
