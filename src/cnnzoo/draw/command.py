"""``cnnzoo draw MODEL|CHECKPOINT``: its configuration (one field per flag) and what it writes.

The model comes through the one door (:func:`cnnzoo.source.open_source`): a registry name, a
checkpoint of ``cnnzoo train`` or ``cnnzoo nas train`` (which carries its genotype), or local
weights. The drawing is :mod:`cnnzoo.draw.diagram`'s; :mod:`cnnzoo.viz.graph` lays it out with
Graphviz's ``dot``. The file's suffix picks what is written: ``.svg`` or ``.png`` (the drawing),
``.dot`` (its DOT text) or ``.json`` (the graph as data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cnnzoo.draw.diagram import LAYERS, STYLE, Diagram, diagram, parse_depth, to_dict, to_graph
from cnnzoo.files import check_output_file, write_atomic, write_text_atomic
from cnnzoo.options import input_size, option, usage_error
from cnnzoo.source import weights_option
from cnnzoo.viz.graph import DIRECTIONS, render, to_dot

SUFFIXES = (".svg", ".png", ".dot", ".json")


@dataclass(frozen=True)
class DrawConfig:
    """``cnnzoo draw MODEL|CHECKPOINT``.

    Attributes:
        model: a model name or a checkpoint of ``cnnzoo train`` / ``cnnzoo nas train``.
        out: the file to write; its suffix picks the format (:data:`SUFFIXES`).
        depth: ``1`` = blocks collapsed; ``k`` = blocks nested ``k - 1`` deep expanded;
            ``layers`` = every layer.
        block: draw this module alone (``inception3a``, ``layer2.0``).
        compare: a second model or checkpoint drawn beside the first.
        genotype: a genotype JSON file for a ``nasnet_*`` model name (``model``, not
            ``compare``).
        input: ``(C, H, W)``; default: the source's own input.
        weights: local torchvision or timm weights of ``model``.
        direction: the way the arrows flow.
    """

    model: str = option(help="a model name (see `cnnzoo list`) or a checkpoint", metavar="MODEL")
    out: str | None = option(
        None,
        help="the file to write: .svg, .png, .dot (DOT text) or .json (the graph as data)",
        metavar="FILE",
        default_help="MODEL.svg",
    )
    depth: str = option(
        "1",
        help=f"1: blocks as one node each; K: blocks nested K-1 deep expanded; {LAYERS}: every "
        "layer",
        metavar="K",
    )
    block: str | None = option(
        None,
        help="draw this block alone, by module path (e.g. inception3a, layer2.0)",
        metavar="NAME",
        default_help="the whole network",
    )
    compare: str | None = option(
        None,
        help="a second model or checkpoint drawn beside MODEL",
        metavar="MODEL2",
        default_help="none",
    )
    genotype: str | None = option(
        None,
        help="a genotype JSON file for a nasnet_* model name",
        metavar="GENOTYPE.json",
        default_help="the model's own cells",
    )
    input: tuple[int, int, int] | None = option(
        None,
        help="input size",
        type=usage_error(input_size),
        metavar="C,H,W",
        default_help="the source's own input",
    )
    weights: str | None = weights_option()
    direction: str = option("TB", help="the way the arrows flow", choices=DIRECTIONS)

    @property
    def path(self) -> Path:
        return Path(self.out or f"{Path(self.model).stem}.svg")


def _diagram(config: DrawConfig, text: str, depth: int | str) -> Diagram:
    from cnnzoo.models.genotype import Genotype
    from cnnzoo.source import is_checkpoint, open_source

    options = None
    if config.genotype is not None and text == config.model:
        if is_checkpoint(text) or not text.startswith("nasnet"):
            raise ValueError(f"--genotype is for a nasnet_* model name, not {text!r}")
        options = {"genotype": Genotype.from_file(config.genotype).to_dict()}
    weights = config.weights if text == config.model else None
    source = open_source(text, weights=weights, input=config.input, options=options)
    return diagram(source.model, source.input, label=source.label, depth=depth, block=config.block)


def draw(config: DrawConfig) -> list[str]:
    """Draw ``config.model`` (and ``config.compare`` beside it) to ``config.out``.

    Returns:
        The line saying what was written.

    Raises:
        ValueError: an unknown suffix, model or option; a checkpoint that does not load; a depth
            the network's blocks do not reach; a ``--block`` that names no module.
    """
    path = config.path
    if path.suffix not in SUFFIXES:
        raise ValueError(f"--out {path}: the suffix must be one of {', '.join(SUFFIXES)}")
    check_output_file(path)
    depth = parse_depth(config.depth)
    diagrams = [_diagram(config, config.model, depth)]
    if config.compare is not None:
        diagrams.append(_diagram(config, config.compare, depth))
    if path.suffix == ".json":
        write_text_atomic(path, json.dumps(to_dict(diagrams), indent=1) + "\n")
    else:
        graph = to_graph(diagrams, config.direction)
        if path.suffix == ".dot":
            write_text_atomic(path, to_dot(graph, STYLE))
        else:
            data = render(graph, path.suffix[1:], STYLE)
            write_atomic(path, lambda tmp: tmp.write_bytes(data))
    nodes = sum(len(d.nodes) for d in diagrams)
    return [f"wrote {path} ({nodes} nodes)"]


def draw_text(config: DrawConfig) -> str:
    """:func:`draw`'s lines as the command's standard output."""
    return "".join(f"{line}\n" for line in draw(config))
