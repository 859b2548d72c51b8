"""The ``cnnzoo`` command line.

Each sub-command is one small function ``(args) -> int`` registered in :data:`COMMANDS`; errors that
come from bad input (``ValueError``) are printed as one line, never as a stack trace.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import torch

from cnnzoo.registry import REGISTRY, create_model


def count_parameters(name: str) -> int:
    """Parameters of ``name`` at its standard input, built on the meta device (no memory, fast)."""
    with torch.device("meta"):
        model = create_model(name)
    return sum(p.numel() for p in model.parameters())


def cmd_list(args: argparse.Namespace) -> int:
    names = REGISTRY.names(args.pattern)
    if not names:
        print(f"no model matches {args.pattern!r}", file=sys.stderr)
        return 1
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
    header = ("name", "family", "paper", "year", "parameters")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    align = ("<", "<", "<", ">", ">")
    for row in [header, *rows]:
        print("  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths, strict=True)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnzoo", description="The classic convolutional networks, exact to their papers."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list the models of the zoo")
    p.add_argument(
        "pattern", nargs="?", default="*", help="shell-style name pattern, e.g. 'resnet*'"
    )
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": cmd_list,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ValueError as err:
        print(f"cnnzoo {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
