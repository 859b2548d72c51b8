"""``cnnzoo list``, ``summary``, ``compare`` and ``explain``: their configurations (one field per
flag) and the text each prints.

Each ``*_text(config)`` returns the command's whole standard output; a format's renderer is
chosen from a table whose keys are the ``--format`` names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch

from cnnzoo.analysis.compare import (
    compare_rows,
    compare_to_csv,
    compare_to_json,
    render_compare_table,
)
from cnnzoo.analysis.explain import TOPICS, render_explanation, separable
from cnnzoo.analysis.report import render_table, to_csv, to_json
from cnnzoo.options import input_size, option, usage_error
from cnnzoo.registry import REGISTRY, create_model
from cnnzoo.text import table

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
SEPARABLE = inspect.signature(separable).parameters  # the defaults of explain separable's flags
# --format name -> (what is shown, its configuration) -> the text
SUMMARY_FORMATS: dict[str, Callable] = {
    "table": lambda report, c: render_table(report, depth=c.depth, width=c.width),
    "json": lambda report, c: to_json(report) + "\n",
    "csv": lambda report, c: to_csv(report, depth=c.depth),
}
COMPARE_FORMATS: dict[str, Callable] = {
    "table": lambda rows, c: render_compare_table(rows, width=c.width),
    "json": lambda rows, c: compare_to_json(rows) + "\n",
    "csv": lambda rows, c: compare_to_csv(rows),
}


@dataclass(frozen=True)
class ListConfig:
    """``cnnzoo list [PATTERN]``.

    Attributes:
        pattern: a shell-style name pattern, e.g. ``resnet*``.
    """

    pattern: str = option("*", help="shell-style name pattern, e.g. 'resnet*'", positional=True)


def count_parameters(name: str) -> int:
    """Parameters of ``name`` at its standard input, built on the meta device (no memory, fast)."""
    with torch.device("meta"):
        model = create_model(name)
    return sum(p.numel() for p in model.parameters())


def list_text(config: ListConfig) -> str:
    """The models matching the pattern as a table (name, family, paper, year, parameters).

    Raises:
        LookupError: no model matches.
    """
    names = REGISTRY.names(config.pattern)
    if not names:
        raise LookupError(f"no model matches {config.pattern!r}")
    rows = [
        (
            name,
            REGISTRY[name].family,
            REGISTRY[name].paper,
            str(REGISTRY[name].year),
            f"{count_parameters(name):,}",
        )
        for name in names
    ]
    return table(rows, ("name", "family", "paper", "year", "parameters"), align="<<<>>") + "\n"


@dataclass(frozen=True)
class SummaryConfig:
    """``cnnzoo summary MODEL``: the per-layer profile.

    Attributes:
        model: a model name.
        input: ``(C, H, W)``; default: the model's standard input.
        num_classes: the classifier's classes; default: the model's.
        depth: fold layers deeper than this many name components into their parent.
        dtype: element type for the activation memory.
        format: ``table``, ``json`` or ``csv``.
        width: the table's width in characters.
    """

    model: str = option(help="a model name (see `cnnzoo list`)")
    input: tuple[int, int, int] | None = option(
        None,
        help="input size",
        type=usage_error(input_size),
        metavar="C,H,W",
        default_help="the model's standard input",
    )
    num_classes: int | None = option(
        None, help="classes of the classifier", metavar="N", default_help="the model's"
    )
    depth: int | None = option(
        None,
        help="fold layers deeper than K name components into their parent",
        metavar="K",
        default_help="every layer",
    )
    dtype: str = option("float32", help="element type for the activation memory", choices=DTYPES)
    format: str = option("table", help="", choices=SUMMARY_FORMATS)
    width: int = option(160, help="table width in characters")


def summary_text(config: SummaryConfig) -> str:
    """The profile of ``config.model`` in ``config.format``."""
    from cnnzoo.analysis.profiler import profile

    kwargs = {} if config.num_classes is None else {"num_classes": config.num_classes}
    report = profile(config.model, config.input, dtype=DTYPES[config.dtype], model_kwargs=kwargs)
    return SUMMARY_FORMATS[config.format](report, config)


@dataclass(frozen=True)
class CompareConfig:
    """``cnnzoo compare [MODEL...]``: models side by side with their papers' figures.

    Attributes:
        models: model names; default: every model with a paper.
        format: ``table``, ``json`` or ``csv``.
        width: the table's width in characters.
    """

    models: tuple[str, ...] = option(
        (), help="model names", nargs="*", positional=True, default_help="every model with a paper"
    )
    format: str = option("table", help="", choices=COMPARE_FORMATS)
    width: int = option(200, help="table width in characters")


def compare_text(config: CompareConfig) -> str:
    """The models' rows in ``config.format``."""
    return COMPARE_FORMATS[config.format](compare_rows(config.models), config)


@dataclass(frozen=True)
class ExplainConfig:
    """``cnnzoo explain TOPIC``: one of the design calculations, measured on real modules.

    Attributes:
        topic: a key of :data:`~cnnzoo.analysis.explain.TOPICS`.
        kernel, in_channels, out_channels, size: ``separable``'s layer (default: the first
            separable layer of MobileNet's Table 1).
    """

    topic: str = option(help="", choices=TOPICS)
    kernel: int = option(SEPARABLE["kernel"].default, help="separable: kernel size", metavar="K")
    in_channels: int = option(
        SEPARABLE["in_channels"].default, help="separable: input channels", metavar="M"
    )
    out_channels: int = option(
        SEPARABLE["out_channels"].default, help="separable: output channels", metavar="N"
    )
    size: int = option(SEPARABLE["size"].default, help="separable: feature map side", metavar="F")


def explain_text(config: ExplainConfig) -> str:
    """The explanation of ``config.topic`` as plain text."""
    options = {
        "separable": {
            "kernel": config.kernel,
            "in_channels": config.in_channels,
            "out_channels": config.out_channels,
            "size": config.size,
        }
    }.get(config.topic, {})
    return render_explanation(TOPICS[config.topic](**options))
