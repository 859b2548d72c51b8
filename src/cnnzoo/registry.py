"""Name -> builder table of the zoo, ``create_model`` and ``list_models``.

The table is explicit: each family file ends with a ``MODELS`` tuple of :class:`ModelSpec`, and
:data:`REGISTRY` is built once from those tuples. Registering a name twice raises.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import torch

from cnnzoo.models import FAMILIES
from cnnzoo.models.base import ModelSpec, ZooModel
from cnnzoo.models.timm_weights import TIMM_MAPPINGS


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
        ValueError: unknown name, unknown option (see :func:`builder_options`), or a
            checkpoint that does not fit the model. Errors raised inside the builder (a
            ``ValueError`` for a bad value, any other exception for a bug) propagate unchanged.
    """
    spec = REGISTRY[name]
    check_options(name, spec.builder, kwargs)
    try:
        model = spec.builder(
            num_classes=spec.num_classes if num_classes is None else num_classes,
            in_chans=spec.input_size[0] if in_chans is None else in_chans,
            **kwargs,
        )
    except TypeError as err:
        fixed = _fixed_option(err, kwargs)
        if fixed is None:
            raise
        raise ValueError(
            f"{name}: option {fixed!r} is fixed by this model (its builder sets it); leave it "
            "out, or choose the model of the family with the value you want"
        ) from None
    model.model_name = name
    if weights is not None:
        load_weights(model, weights)
    return model


_MULTIPLE_VALUES = re.compile(r"got multiple values for keyword argument '(\w+)'")


def _fixed_option(err: TypeError, options: Mapping) -> str | None:
    """The option a builder sets itself when ``err`` is Python's complaint that the builder passed
    it a second time (``vgg16_bn(batch_norm=False)``); ``None`` for any other ``TypeError``."""
    match = _MULTIPLE_VALUES.search(str(err))
    return match.group(1) if match and match.group(1) in options else None


# Parameter kinds that can be passed by keyword.
_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def builder_options(builder: Callable[..., torch.nn.Module]) -> tuple[str, ...] | None:
    """The keyword options a builder accepts, read from signatures.

    They are the builder's own keyword parameters and, when it forwards ``**kwargs`` (as
    ``vgg16(**kwargs) -> VGG`` does), the optional keyword parameters of the class its return
    annotation names. The class's required parameters (a configuration table) are the builder's
    to fill, so they are not options.

    Args:
        builder: a registered builder, e.g. ``spec.builder``.

    Returns:
        The option names in declaration order (builder first), or ``None`` when they cannot be
        known: a ``**kwargs`` builder whose return annotation is not a module class, or a class
        that itself takes ``**kwargs``.
    """
    params = inspect.signature(builder, eval_str=True)
    names = [p.name for p in params.parameters.values() if p.kind in _KEYWORD_KINDS]
    if not any(p.kind is p.VAR_KEYWORD for p in params.parameters.values()):
        return tuple(names)
    cls = params.return_annotation  # ``inspect.Signature.empty`` (a class) when missing
    if not (inspect.isclass(cls) and issubclass(cls, torch.nn.Module)):
        return None
    cls_params = inspect.signature(cls).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in cls_params):
        return None
    names += [
        p.name
        for p in cls_params
        if p.name not in names
        and (p.kind is p.KEYWORD_ONLY or (p.kind in _KEYWORD_KINDS and p.default is not p.empty))
    ]
    return tuple(names)


def check_options(name: str, builder: Callable[..., torch.nn.Module], options: Mapping) -> None:
    """Raise ``ValueError`` if ``options`` holds a name ``builder`` does not accept.

    Args:
        name: the model's name, used in the message.
        builder: its builder.
        options: the keyword options given to :func:`create_model`.

    Raises:
        ValueError: naming the model, the unknown options and the accepted ones, closest
            matches first.
    """
    accepted = builder_options(builder)
    if accepted is None:
        return
    unknown = [key for key in options if key not in accepted]
    if not unknown:
        return
    close = [m for key in unknown for m in difflib.get_close_matches(key, accepted, n=3)]
    ordered = list(dict.fromkeys(close)) + sorted(set(accepted) - set(close))
    plural = "s" if len(unknown) > 1 else ""
    raise ValueError(
        f"{name}: unknown option{plural} {', '.join(map(repr, unknown))}; "
        f"accepted: {', '.join(ordered)}"
    )


def load_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Load a local checkpoint into ``model`` with ``weights_only=True`` and ``strict=True``.

    The file holds a state dict with our names (torchvision's, or a cnnzoo checkpoint with it
    under ``"model"``), or timm's state dict of the same network for the models of
    :data:`~cnnzoo.models.timm_weights.TIMM_MAPPINGS` (looked up by ``model.model_name``, which
    :func:`create_model` sets): keys that are not ours are renamed with that model's timm rules,
    and the renamed dict is used when it shares more keys with the model.

    Args:
        model: the model to fill.
        path: the checkpoint file.

    Raises:
        ValueError: the file is missing, is not a tensor checkpoint, or its keys or shapes do not
            match the model; the one-line message names the file and the first differences.
    """
    path = Path(path)
    state = _read_state_dict(path)
    own = model.state_dict()
    read_as = ""
    mapping = TIMM_MAPPINGS.get(getattr(model, "model_name", ""))
    if mapping is not None and state.keys() != own.keys():
        renamed = mapping.convert(state)
        if len(renamed.keys() & own.keys()) > len(state.keys() & own.keys()):
            state, read_as = renamed, f" (read as timm {mapping.timm_name!r}, renamed)"
    problems = _mismatches(state, own)
    if problems:
        raise ValueError(
            f"weights file {str(path)!r}{read_as} does not fit the model: " + "; ".join(problems)
        )
    model.load_state_dict(state, strict=True)


def _read_state_dict(path: Path) -> dict:
    """The state dict in the file: the whole file, or its ``"model"`` / ``"state_dict"`` entry."""
    from cnnzoo.checkpoint import read_tensors

    state = read_tensors(path, "weights file")
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    elif isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"weights file {str(path)!r} holds no state dict")
    return state


def _mismatches(state: Mapping, own: Mapping[str, torch.Tensor]) -> list[str]:
    """The missing, unexpected and wrongly shaped keys of ``state``, the first four of each."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape") and state[k].shape != own[k].shape
    ]
    return [
        f"{label} ({len(items)}): {', '.join(items[:4])}{', ...' if len(items) > 4 else ''}"
        for label, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches (file vs model)", wrong_shape),
        )
        if items
    ]
