"""The ``cnnzoo`` command line: every sub-command's parser and its handler, and nothing else.

Each sub-command's flags are generated from the fields of its configuration dataclass
(:mod:`cnnzoo.options`: type, default, choices and help text live beside the field), so a default
exists once. A handler builds the configuration from the flags, calls its tool and prints the
lines the tool renders. Every handler runs inside one error boundary
(:func:`cnnzoo.failures.run_command`): bad input, a failed read or write and a stop signal are
printed as one line, never as a stack trace, with the exit codes documented there.
``python -m cnnzoo`` runs it too, and so does ``torchrun --nproc-per-node K -m cnnzoo train ...``
for several training processes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cnnzoo.failures import run_command
from cnnzoo.options import add_options, argv_of, config_from_args
from cnnzoo.train.config import TrainConfig


def out(text: str) -> int:
    print(text, end="")
    return 0


def say(lines: Iterable[str]) -> int:
    return out("".join(f"{line}\n" for line in lines))


def warn(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def train_argv(config: TrainConfig) -> list[str]:
    """``train MODEL [flags]``: the arguments that make ``config``."""
    return ["train", *argv_of(config)]


def cmd_list(config) -> int:
    from cnnzoo.analysis.command import list_text

    try:
        return out(list_text(config))
    except LookupError as err:
        print(err, file=sys.stderr)
        return 1


def cmd_train(config: TrainConfig) -> int:
    from cnnzoo.train.launch import run_training

    return run_training("train", config, train_argv)


def cmd_bench(config) -> int:
    from cnnzoo.bench.command import run_bench

    return out(run_bench(config, warn))


def cmd_plot(config) -> int:
    from cnnzoo.viz.plot import plot_lines

    return say(plot_lines(config, warn))


def cmd_export(config) -> int:
    from cnnzoo.export.command import export_model, summary_lines
    from cnnzoo.progress import rich_progress

    with rich_progress("cnnzoo export") as progress:
        result = export_model(config, progress)
    return say(summary_lines(result))


def cmd_embed(config) -> int:
    from cnnzoo.embed.command import embed, summary_lines
    from cnnzoo.progress import rich_progress

    with rich_progress("cnnzoo embed") as progress:
        answer = embed(config, progress)
    return say(summary_lines(answer))


def cmd_inspect(config) -> int:
    from cnnzoo.inside.command import inspect, summary_lines
    from cnnzoo.progress import rich_progress

    with rich_progress("cnnzoo inspect") as progress:
        views = inspect(config, progress)
    return say(summary_lines(views))


def cmd_report(config) -> int:
    from cnnzoo.progress import rich_progress
    from cnnzoo.report.command import run_report

    with rich_progress("cnnzoo report") as progress:
        lines, code = run_report(config, warn, progress)
    return say(lines) or code


def cmd_nas_search(config) -> int:
    from cnnzoo.nas.render import summary_lines
    from cnnzoo.nas.search import search
    from cnnzoo.progress import line_progress

    return say(summary_lines(search(config, line_progress("nas search", warn))))


def cmd_nas_train(transfer, train: TrainConfig) -> int:
    from cnnzoo.nas.transfer import train_cell

    return train_cell(transfer, train)


def cmd_nas_show(config) -> int:
    from cnnzoo.nas.transfer import show_cell

    return say(show_cell(config))


@dataclass(frozen=True)
class Command:
    """A sub-command: its help line and description, the configurations whose fields are its
    flags (``"module:Class"``, imported when its parser is built), the fields of them that are no
    flags of it (``None`` for the handler to set), and its handler, called with the
    configurations; or ``text``, the ``"module:function"`` whose text of the configuration is
    printed; or its own sub-commands."""

    help: str
    description: str | None = None
    configs: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    run: Callable[..., int] | None = None
    text: str | None = None
    verbs: dict[str, Command] | None = None


COMMANDS: dict[str, Command] = {
    "list": Command(
        "list the models of the zoo", None, ("cnnzoo.analysis.command:ListConfig",), run=cmd_list
    ),
    "summary": Command(
        "per-layer profile: shapes, parameters, MACs, memory, receptive field",
        None,
        ("cnnzoo.analysis.command:SummaryConfig",),
        text="cnnzoo.analysis.command:summary_text",
    ),
    "compare": Command(
        "models side by side with their papers' figures (default: all)",
        None,
        ("cnnzoo.analysis.command:CompareConfig",),
        text="cnnzoo.analysis.command:compare_text",
    ),
    "explain": Command(
        "the design calculations (3x3 stacks, 1x1 reductions, separable convolutions), "
        "measured on real modules",
        None,
        ("cnnzoo.analysis.command:ExplainConfig",),
        text="cnnzoo.analysis.command:explain_text",
    ),
    "train": Command(
        "train a model of the zoo on a dataset",
        "Train MODEL on a dataset with its default recipe (flags override it). Writes "
        "config.json, metrics.csv, TensorBoard events, last.pt and best.pt to the run folder. "
        "Several processes: torchrun --nproc-per-node K -m cnnzoo train ...",
        ("cnnzoo.train.config:TrainConfig",),
        run=cmd_train,
    ),
    "eval": Command(
        "top-1/top-5 accuracy, per-class accuracy and confusion matrix of a checkpoint or of "
        "published weights",
        "Evaluate a checkpoint on its dataset's test split, or MODEL --weights W (torchvision's "
        "or timm's ImageNet weights) on --dataset imagenet with the preprocessing they were "
        "published with; writes a confusion-matrix PNG beside the file.",
        ("cnnzoo.evaluate.command:EvalConfig",),
        text="cnnzoo.evaluate.command:eval_output",
    ),
    "predict": Command(
        "top-5 classes of image files",
        "Classify image files with a checkpoint, or MODEL --weights W (ImageNet weights), "
        "showing the top classes with their probabilities and the class names.",
        ("cnnzoo.evaluate.command:PredictConfig",),
        text="cnnzoo.evaluate.command:predict_output",
    ),
    "bench": Command(
        "latency under eager, fold, compile, onnxruntime, executorch; fp32, bf16, int8",
        "Prepare every runtime x precision x batch size of each model, then time them in "
        "interleaved rounds; speed-ups are over fp32 eager in the same rounds. On a busy machine "
        "set OMP_WAIT_POLICY=PASSIVE (spinning OpenMP threads make 2 threads 3-6x slower on a "
        "loaded 2-core machine).",
        ("cnnzoo.bench.core:BenchConfig",),
        run=cmd_bench,
    ),
    "plot": Command(
        "charts: accuracy vs ops, ILSVRC errors, depth by year, MobileNet grid, latency",
        "Draw one chart (matplotlib, off-screen) from the papers' figures, the profiler and, for "
        "latency, a `cnnzoo bench --format json` file.",
        ("cnnzoo.viz.plot:PlotConfig",),
        run=cmd_plot,
    ),
    "export": Command(
        "export to ONNX or ExecuTorch (XNNPACK), fp32 or static int8, and verify it",
        "Export MODEL (random init, or --weights) or a CHECKPOINT of `cnnzoo train` to ONNX "
        "(torch.onnx dynamo exporter, checked with onnx.checker) or an ExecuTorch .pte lowered to "
        "XNNPACK. --quantize int8 calibrates static quantization on the TRAINING images of "
        "--calibration DATASET (a checkpoint's default: its own dataset).",
        ("cnnzoo.export.command:ExportConfig",),
        run=cmd_export,
    ),
    "embed": Command(
        "t-SNE map of a network's codes: scatter, image grid, thumbnail map, k-NN accuracy",
        "Embed N images of a split with SOURCE (a checkpoint of `cnnzoo train`, or a model name "
        "for an untrained network) and map their codes to 2-D with t-SNE (openTSNE, PCA "
        "initialisation). Writes features.npy, labels.npy, indices.npy, embedding.npy, "
        "scatter.png, grid.png, map.png and summary.json (5-NN accuracy in feature space and in "
        "the map, trustworthiness).",
        ("cnnzoo.embed.command:EmbedConfig",),
        run=cmd_embed,
    ),
    "nas": Command(
        "architecture search in the NASNet cell space",
        "Search a NASNet cell on a small proxy, train the transferred network, draw cells.",
        verbs={
            "search": Command(
                "regularized evolution, random search or NSGA-II (accuracy against MACs), state "
                "in an Optuna study",
                "Each candidate trains a small nasnet_cifar network of its cell on part of the "
                "TRAINING split and is scored on images held out from it (never the test split). "
                "The state is an Optuna study (SQLite in --out, or --storage URL such as "
                "postgresql+psycopg://user@host/db): the same command run again, or on another "
                "machine with the same --storage and --study, completes the remaining "
                "candidates. Writes history.csv, search_curve.png, best_genotype.json, "
                "best_cell.png/.svg, and the Pareto front of validation top-1 against MACs "
                "(pareto.json, pareto_front.png): the goal of --strategy nsga2, a by-product of "
                "the others.",
                ("cnnzoo.nas.search:SearchConfig",),
                run=cmd_nas_search,
            ),
            "train": Command(
                "train a searched cell, stacked N times with P penultimate filters",
                "Train the nasnet_cifar network of GENOTYPE.json (N normal cells per stack, P "
                "filters at the end, ScheduledDropPath on) with the training engine; the flags "
                "of `cnnzoo train` apply.",
                ("cnnzoo.nas.transfer:TransferConfig", "cnnzoo.train.config:TrainConfig"),
                skip=("model",),
                run=cmd_nas_train,
            ),
            "show": Command(
                "draw the normal and reduction cell of a genotype",
                None,
                ("cnnzoo.nas.transfer:ShowConfig",),
                run=cmd_nas_show,
            ),
        },
    ),
    "inspect": Command(
        "what a trained network sees: filters, feature maps, top-9 images, Grad-CAM",
        "Show what CHECKPOINT (a `cnnzoo train` run's best.pt) sees in IMAGE files or in seeded "
        "test images: the first convolution's filters, the feature maps after each stage, each "
        "channel's top-9 test images cropped to its receptive field (Zeiler & Fergus, Fig. 2), "
        "Grad-CAM and a gradient map (captum) with the predictions. Writes filters.png, "
        "maps-<i>.png, top9-<layer>.png, evidence.png and views.json to --out.",
        ("cnnzoo.inside.command:InspectConfig",),
        run=cmd_inspect,
    ),
    "draw": Command(
        "the architecture drawn from its traced module graph: SVG, PNG, DOT or JSON",
        "Draw MODEL (or a CHECKPOINT) at the level its paper draws it: blocks (residual, "
        "Inception, NASNet cells, separable convolutions, ShuffleNet units) one node each, "
        "named by module path with output shape, parameters, MACs and receptive field; "
        "shortcuts dashed. --depth expands blocks, --block draws one alone, --compare draws a "
        "second model beside it. Laid out by Graphviz's dot.",
        ("cnnzoo.draw.command:DrawConfig",),
        text="cnnzoo.draw.command:draw_text",
    ),
    "report": Command(
        "one static HTML site of every network, chart, calculation and result",
        "Measure the whole zoo and write a self-contained static site: the evolution table and "
        "charts (index.html), one page per family (paper, deviations, stage layouts, per-layer "
        "profiles, receptive field), the design calculations (explain.html) and, from the "
        "folders and files given, training runs, benchmarks, t-SNE maps and searches "
        "(results.html). Nothing is fetched when the pages are viewed.",
        ("cnnzoo.report.site:ReportConfig",),
        run=cmd_report,
    ),
}


def load(path: str):
    """The class or function ``"module:name"`` names."""
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def add_commands(sub, commands: dict[str, Command], only: str | None = None) -> None:
    """A parser per command, with its flags if it is ``only`` (every command's when ``None``)."""
    for name, command in commands.items():
        p = sub.add_parser(name, help=command.help, description=command.description)
        if only is not None and name != only:
            continue
        for path in command.configs:
            add_options(p, load(path), skip=command.skip)
        if command.verbs:
            verbs = p.add_subparsers(
                dest=f"{name}_command", required=True, metavar="|".join(command.verbs)
            )
            add_commands(verbs, command.verbs)


def build_parser(
    only: str | None = None,
) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """The ``cnnzoo`` parser and its sub-parsers; with ``only``, the flags of that command alone
    (a configuration's module is imported only when its flags are added)."""
    parser = argparse.ArgumentParser(
        prog="cnnzoo", description="The classic convolutional networks, exact to their papers."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_commands(sub, COMMANDS, only)
    return parser, sub


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, _ = build_parser(argv[0] if argv and argv[0] in COMMANDS else "")
    args = parser.parse_args(argv)
    verb = getattr(args, f"{args.command}_command", None)
    command = COMMANDS[args.command].verbs[verb] if verb else COMMANDS[args.command]

    def run() -> int:  # inside the boundary: a flag's text its parse refuses is bad input
        configs = []
        for cls in map(load, command.configs):
            skipped = {name: None for name in command.skip if name in cls.__dataclass_fields__}
            configs.append(config_from_args(cls, args, **skipped))
        return command.run(*configs) if command.run else out(load(command.text)(*configs))

    return run_command(" ".join(filter(None, (args.command, verb))), run)


if __name__ == "__main__":
    raise SystemExit(main())
