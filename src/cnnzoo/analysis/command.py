"""``cnnzoo list``, ``summary``, ``compare`` and ``explain``: their configurations (one field per
flag) and the text each prints.

Each ``*_text(config)`` returns the command's whole standard output; a format's renderer is
chosen from a table whose keys are the ``--format`` names.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
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
from cnnzoo.analysis.memory import MemoryEstimate, predict_memory, render_memory
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
        batch_size: predict the peak memory of inference at this batch size
            (:mod:`cnnzoo.analysis.memory`); ``None``: no prediction unless ``train`` (then 1).
        train: also predict the peak memory of one training step.
        optimizer: the training step's optimizer; ``None``: the model's training recipe's.
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
    batch_size: int | None = option(
        None,
        help="predict the peak memory of inference at batch B (table and json formats)",
        metavar="B",
        default_help="no prediction, unless --train (then 1)",
    )
    train: bool = option(False, help="also predict the peak memory of one training step")
    optimizer: str | None = option(
        None,
        help="optimizer of the training step",
        choices="cnnzoo.analysis.memory:OPTIMIZERS",
        default_help="the model's training recipe's",
    )


def training_terms(name: str, input_size: tuple[int, int, int]) -> tuple[str, float]:
    """The optimizer and the auxiliary-loss weight of ``name``'s default training recipe at
    ``input_size`` (28-32 pixels: the small-data recipe, else the family's ImageNet recipe)."""
    from cnnzoo.train.recipes import recipe_for  # the recipes are data; only when --train

    recipe = recipe_for(name, REGISTRY[name].family, "", small_images=input_size[1] <= 32)
    return recipe.optimizer, recipe.aux_loss_weight


def summary_text(config: SummaryConfig) -> str:
    """The profile of ``config.model`` in ``config.format``, and the predicted peak memory when
    ``config.batch_size`` or ``config.train`` asks for it.

    Raises:
        ValueError: a memory prediction asked for in the ``csv`` format, an optimizer without
            ``train``, or a batch size below 1.
    """
    from cnnzoo.analysis.profiler import profile

    memory = config.batch_size is not None or config.train
    if memory and config.format == "csv":
        raise ValueError("the memory prediction is shown in the table and json formats only")
    if config.optimizer is not None and not config.train:
        raise ValueError("--optimizer is the training step's: give --train too")
    kwargs = {} if config.num_classes is None else {"num_classes": config.num_classes}
    dtype = DTYPES[config.dtype]
    report = profile(config.model, config.input, dtype=dtype, model_kwargs=kwargs)
    text = SUMMARY_FORMATS[config.format](report, config)
    if not memory:
        return text
    estimates = memory_estimates(config, report.input_size, dtype, kwargs)
    if config.format == "json":
        data = json.loads(text)
        data["memory"] = [dataclasses.asdict(e) for e in estimates]
        return json.dumps(data, indent=1) + "\n"
    return text + "\n" + render_memory(estimates)


def memory_estimates(
    config: SummaryConfig, input_size: tuple[int, int, int], dtype: torch.dtype, kwargs: dict
) -> list[MemoryEstimate]:
    """Inference, and with ``config.train`` one training step, at ``config.batch_size``."""
    batch = 1 if config.batch_size is None else config.batch_size
    common = dict(input_size=input_size, dtype=dtype, model_kwargs=kwargs)
    estimates = [predict_memory(config.model, batch, **common)]
    if config.train:
        optimizer, aux_weight = training_terms(config.model, input_size)
        optimizer = config.optimizer or optimizer
        estimates.append(
            predict_memory(
                config.model,
                batch,
                train=True,
                optimizer=optimizer,
                aux_weight=aux_weight,
                **common,
            )
        )
    return estimates


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
