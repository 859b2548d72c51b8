"""Published figures of the zoo's papers, shipped with the package.

``models.json`` is a copy of the project's reference table (parameters and conv+linear
multiply-accumulates of a reference implementation, and what each paper reports). Tests check every
model against it; ``cnnzoo compare`` prints it beside our own numbers.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class ReferenceModel:
    """One row of the reference table.

    Args:
        name: registry name.
        kwargs: builder options the figures hold for.
        input_size: ``(C, H, W)`` the figures hold for.
        num_classes: classifier size the figures hold for.
        params: parameter count.
        params_tolerance: allowed relative difference (0: exact).
        macs: conv+linear multiply-accumulates for one image, or ``None``.
        macs_tolerance: allowed relative difference of ``macs``.
        depth: weight layers on the longest path, or ``None``.
        paper: what the paper reports (free text fields).
        source: where ``params`` comes from.
    """

    name: str
    kwargs: dict[str, Any]
    input_size: tuple[int, int, int]
    num_classes: int
    params: int
    params_tolerance: float
    macs: int | None
    macs_tolerance: float | None
    depth: int | None
    paper: dict[str, str]
    source: str


def parse_kwargs(text: str) -> dict[str, Any]:
    """Parse ``"groups=3, width_mult=1.0"`` into ``{"groups": 3, "width_mult": 1.0}``."""
    result: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        result[key.strip()] = ast.literal_eval(value.strip())
    return result


def load_table() -> dict[str, Any]:
    """The raw reference table as stored."""
    text = resources.files(__package__).joinpath("models.json").read_text(encoding="utf-8")
    return json.loads(text)


def reference_models() -> list[ReferenceModel]:
    """The rows of the reference table, parsed."""
    return [
        ReferenceModel(
            name=row["name"],
            kwargs=parse_kwargs(row.get("kwargs", "")),
            input_size=tuple(row["input"]),
            num_classes=row["num_classes"],
            params=row["params"],
            params_tolerance=row["params_tolerance"],
            macs=row.get("macs_conv_linear"),
            macs_tolerance=row.get("macs_tolerance"),
            depth=row.get("depth_weight_layers_longest_path"),
            paper=row.get("paper", {}),
            source=row.get("params_source", ""),
        )
        for row in load_table()["models"]
    ]


def ilsvrc_top5_error() -> dict[str, float]:
    """ILSVRC classification winners' top-5 error (%) by entry, and the human estimate.

    Returns:
        ``{"2012 AlexNet": 16.4, ..., "human": 5.1}`` in the order stored (the ILSVRC winners'
        figure, ``lecture_figures.ilsvrc_top5_error_by_year`` of ``models.json``).
    """
    return dict(load_table()["lecture_figures"]["ilsvrc_top5_error_by_year"])
