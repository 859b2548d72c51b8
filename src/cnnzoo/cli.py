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

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


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


def parse_input_size(text: str) -> tuple[int, int, int]:
    """``"3,224,224"`` -> ``(3, 224, 224)``; anything else is an argparse error naming it."""
    try:
        size = tuple(int(v) for v in text.split(","))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"--input must be C,H,W with positive integers: {text!r}")
    return size


def cmd_summary(args: argparse.Namespace) -> int:
    from cnnzoo.analysis import profile, render_table, to_csv, to_json

    kwargs = {} if args.num_classes is None else {"num_classes": args.num_classes}
    report = profile(args.model, args.input, dtype=DTYPES[args.dtype], model_kwargs=kwargs)
    if args.format == "json":
        print(to_json(report))
    elif args.format == "csv":
        print(to_csv(report, depth=args.depth), end="")
    else:
        print(render_table(report, depth=args.depth, width=args.width), end="")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from cnnzoo.analysis.compare import (
        compare_rows,
        compare_to_csv,
        compare_to_json,
        render_compare_table,
    )

    rows = compare_rows(args.models)
    renderers = {
        "table": lambda r: render_compare_table(r, width=args.width),
        "json": lambda r: compare_to_json(r) + "\n",
        "csv": compare_to_csv,
    }
    print(renderers[args.format](rows), end="")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from cnnzoo.analysis.explain import TOPICS, render_explanation

    options = {
        "separable": {
            "kernel": args.kernel,
            "in_channels": args.in_channels,
            "out_channels": args.out_channels,
            "size": args.size,
        }
    }.get(args.topic, {})
    explanation = TOPICS[args.topic](**{k: v for k, v in options.items() if v is not None})
    print(render_explanation(explanation), end="")
    return 0


def build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(
        prog="cnnzoo", description="The classic convolutional networks, exact to their papers."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list the models of the zoo")
    p.add_argument(
        "pattern", nargs="?", default="*", help="shell-style name pattern, e.g. 'resnet*'"
    )

    p = sub.add_parser(
        "summary", help="per-layer profile: shapes, parameters, MACs, memory, receptive field"
    )
    p.add_argument("model", help="a model name (see `cnnzoo list`)")
    p.add_argument(
        "--input",
        type=parse_input_size,
        default=None,
        metavar="C,H,W",
        help="input size (default: the model's standard input)",
    )
    p.add_argument("--num-classes", type=int, default=None, metavar="N")
    p.add_argument(
        "--depth",
        type=int,
        default=None,
        metavar="K",
        help="fold layers deeper than K name components into their parent",
    )
    p.add_argument(
        "--dtype", choices=DTYPES, default="float32", help="element type for the activation memory"
    )
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--width", type=int, default=160, help="table width in characters")

    p = sub.add_parser(
        "compare", help="models side by side with their papers' figures (default: all)"
    )
    p.add_argument("models", nargs="*", help="model names (default: every model with a paper)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--width", type=int, default=200, help="table width in characters")

    p = sub.add_parser("explain", help="the lecture's calculations, measured on real modules")
    p.add_argument("topic", choices=("receptive-field", "inception", "separable", "mobilenet"))
    p.add_argument("--kernel", type=int, metavar="K", help="separable: kernel size")
    p.add_argument("--in-channels", type=int, metavar="M", help="separable: input channels")
    p.add_argument("--out-channels", type=int, metavar="N", help="separable: output channels")
    p.add_argument("--size", type=int, metavar="F", help="separable: feature map side")
    return parser, sub


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": cmd_list,
    "summary": cmd_summary,
    "compare": cmd_compare,
    "explain": cmd_explain,
}


def main(argv: Sequence[str] | None = None) -> int:
    from cnnzoo.train.commands import add_commands

    parser, sub = build_parser()
    commands = {**COMMANDS, **add_commands(sub)}
    args = parser.parse_args(argv)
    try:
        return commands[args.command](args)
    except ValueError as err:
        print(f"cnnzoo {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
