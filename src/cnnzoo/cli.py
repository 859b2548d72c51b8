"""The ``cnnzoo`` command line: every sub-command's parser and its thin handler.

Each sub-command is one small function ``(args) -> int`` registered in :data:`COMMANDS`, which
turns the parsed flags into the library's call (``train``, ``eval`` and ``predict``: a frozen
configuration, one field per flag). Every handler runs inside one error boundary
(:func:`cnnzoo.failures.run_command`): bad input, a failed read or write and a stop signal are
printed as one line, never as a stack trace, with the exit codes documented there.
``python -m cnnzoo`` runs it too, and so does ``torchrun --nproc-per-node K -m cnnzoo train ...``
for several training processes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch

from cnnzoo.failures import run_command
from cnnzoo.registry import REGISTRY, create_model
from cnnzoo.train.config import (
    FORMATS,
    OPTIMIZER_NAMES,
    PRECISIONS,
    SCHEDULE_NAMES,
    TTA_NAMES,
    EvalConfig,
    PredictConfig,
    TrainConfig,
)

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


RECIPE = "default: from the model's recipe"


def add_train_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model of the zoo on a dataset",
        description="Train MODEL on a dataset with its default recipe (flags override it). "
        "Writes config.json, metrics.csv, TensorBoard events, last.pt and best.pt to the run "
        "folder. Several processes: torchrun --nproc-per-node K -m cnnzoo train ...",
    )
    p.add_argument("model", help="a model name (see `cnnzoo list`)")
    add_train_flags(p)


def add_train_flags(p: argparse.ArgumentParser) -> None:
    """The flags of ``cnnzoo train`` and ``cnnzoo nas train``, one per ``TrainConfig`` field."""
    p.add_argument("--dataset", default="fashion-mnist", help="dataset name (default: %(default)s)")
    p.add_argument("--data-dir", help="folder with the dataset's files")
    p.add_argument("--epochs", type=int, help=RECIPE)
    p.add_argument("--batch-size", type=int, help=f"over all processes together; {RECIPE}")
    p.add_argument("--optimizer", choices=OPTIMIZER_NAMES, help=RECIPE)
    p.add_argument("--lr", type=float, help=f"peak learning rate; {RECIPE}")
    p.add_argument("--momentum", type=float, help=f"SGD momentum or AdamW beta1; {RECIPE}")
    p.add_argument("--weight-decay", type=float, help=RECIPE)
    p.add_argument("--schedule", choices=SCHEDULE_NAMES, help=RECIPE)
    p.add_argument("--warmup-epochs", type=float, help=f"linear warm-up; {RECIPE}")
    p.add_argument("--label-smoothing", type=float, help=RECIPE)
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="autocast precision (default: %(default)s)",
    )
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    p.add_argument("--compile", action="store_true", help="wrap the model in torch.compile")
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    p.add_argument(
        "--subset", type=int, help="train on the first N training images only (tests on all)"
    )
    p.add_argument("--input-size", type=int, help="resize the images to this side")
    p.add_argument("--out", help="run folder (default: runs/<model>-<dataset>-<time>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out (default: the newest) from last.pt",
    )
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic kernels (bitwise-reproducible on CPU)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=200,
        help="also save last.pt every N steps, 0 = at epoch ends only (default: %(default)s)",
    )


def add_eval_parser(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="top-1/top-5 accuracy, per-class accuracy and confusion matrix of a checkpoint",
        description="Evaluate a checkpoint on its dataset's test split; writes a confusion-matrix "
        "PNG beside it.",
    )
    p.add_argument("checkpoint", help="a .pt file written by `cnnzoo train`")
    p.add_argument("--dataset", help="evaluate on this dataset (default: the checkpoint's)")
    p.add_argument("--data-dir", help="folder with the dataset's files")
    p.add_argument(
        "--tta",
        choices=TTA_NAMES,
        default="none",
        help="test-time augmentation (default: %(default)s)",
    )
    p.add_argument("--format", choices=FORMATS, default="text", help="default: %(default)s")
    p.add_argument("--batch-size", type=int, default=500, help="default: %(default)s")
    p.add_argument("--out", help="confusion-matrix PNG path (default: beside the checkpoint)")


def add_predict_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="top-5 classes of image files",
        description="Classify image files with a checkpoint, showing the top classes with their "
        "probabilities and the dataset's class names.",
    )
    p.add_argument("checkpoint", help="a .pt file written by `cnnzoo train`")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--topk", type=int, default=5, help="default: %(default)s")
    p.add_argument("--format", choices=FORMATS, default="text", help="default: %(default)s")
    p.add_argument("--model", help="for a plain (torchvision) state dict: its model name")


def config_from_args(cls, args: argparse.Namespace, **extra):
    """The frozen configuration ``cls`` whose fields are the flags of the same names."""
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if f.name not in extra and hasattr(args, f.name)
    }
    return cls(**values, **extra)


def train_argv(config: TrainConfig) -> list[str]:
    """``train MODEL [flags]``, the arguments that make ``config``: the inverse of
    :func:`config_from_args` (fields at their defaults are left out; ``model_kwargs`` has no
    flag of ``train``)."""
    argv = ["train", config.model]
    for f in dataclasses.fields(TrainConfig):
        value = getattr(config, f.name)
        if f.name in ("model", "model_kwargs") or value == f.default:
            continue
        flag = f"--{f.name.replace('_', '-')}"
        argv += [flag] if value is True else [flag, str(value)]
    return argv


def launcher(argv0: str, executable: str, env: Mapping[str, str]) -> list[str]:
    """How this process was started, as the start of a command line that starts it again.

    Args:
        argv0: ``sys.argv[0]`` (``.../cnnzoo/__main__.py`` under ``python -m cnnzoo`` and
            ``torchrun -m cnnzoo``).
        executable: ``sys.executable``.
        env: the environment (``torchrun`` sets ``WORLD_SIZE`` and ``LOCAL_WORLD_SIZE``).
    """
    world = int(env.get("WORLD_SIZE", "1"))
    if world > 1:
        local = int(env.get("LOCAL_WORLD_SIZE", str(world)))
        nodes = ["--nnodes", str(world // local)] if world > local else []
        return ["torchrun", *nodes, "--nproc-per-node", str(local), "-m", "cnnzoo"]
    if Path(argv0).parts[-2:] == ("cnnzoo", "__main__.py"):
        return [executable, "-m", "cnnzoo"]
    return ["cnnzoo"]


def interrupted_line(stop, config: TrainConfig, start: list[str]) -> str:
    """The one line a stopped ``cnnzoo train`` prints: what happened and the command to go on.

    Args:
        stop: the :class:`~cnnzoo.interrupt.Interrupted` that ended the run.
        config: the configuration as the flags gave it.
        start: the :func:`launcher` of this process.
    """
    if stop.resumable:
        again = dataclasses.replace(config, out=str(stop.run_dir), resume=True)
        return f"cnnzoo train: {stop}; continue with: {shlex.join([*start, *train_argv(again)])}"
    return f"cnnzoo train: {stop}; start again with: {shlex.join([*start, *train_argv(config)])}"


def cmd_train(args: argparse.Namespace) -> int:
    from cnnzoo.interrupt import Interrupted, before_training
    from cnnzoo.train.engine import run

    config = config_from_args(TrainConfig, args)
    try:
        try:
            run(config)
        except KeyboardInterrupt:  # a Ctrl-C before the run caught the signals
            raise before_training(signal.SIGINT) from None
    except Interrupted as stop:
        if os.environ.get("RANK", "0") == "0":  # one line, from rank 0 alone
            start = launcher(sys.argv[0], sys.executable, os.environ)
            print(interrupted_line(stop, config, start), file=sys.stderr, flush=True)
        return stop.exit_code
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from cnnzoo.train.inference import evaluate_checkpoint

    result = evaluate_checkpoint(config_from_args(EvalConfig, args))
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"{result['checkpoint']} on {result['dataset']} test ({result['count']:,} images, "
        f"tta {result['tta']})"
    )
    print(f"top-1 accuracy {result['top1']:.2%}  error {result['error1']:.2%}")
    print(f"top-5 accuracy {result['top5']:.2%}  error {result['error5']:.2%}")
    print(f"loss {result['loss']:.4f}")
    print("per-class accuracy:")
    width = max(len(name) for name in result["per_class"])
    for name, acc in result["per_class"].items():
        print(f"  {name:<{width}}  {'no images' if acc is None else f'{acc:.2%}'}")
    print(f"confusion matrix: {result['confusion_png']}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from cnnzoo.train.inference import predict

    results = predict(
        config_from_args(PredictConfig, args, images=tuple(args.images)), model_name=args.model
    )
    if args.format == "json":
        print(json.dumps(results, indent=2))
        return 0
    for result in results:
        print(result["image"])
        width = max(len(row["class"]) for row in result["top"])
        for row in result["top"]:
            print(f"  {row['class']:<{width}}  {row['probability']:7.2%}")
    return 0


def add_bench_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="latency under eager, fold, compile, onnxruntime, executorch; fp32, bf16, int8",
        description="Prepare every runtime x precision x batch size of each model, then time them "
        "in interleaved rounds; speed-ups are over fp32 eager in the same rounds. On a busy "
        "machine set OMP_WAIT_POLICY=PASSIVE (spinning OpenMP threads make 2 threads 3-6x "
        "slower on a loaded 2-core machine).",
    )
    p.add_argument(
        "models",
        nargs="+",
        metavar="MODEL|CHECKPOINT",
        help="model names (random init) or cnnzoo checkpoints",
    )
    p.add_argument(
        "--runtime",
        default="eager",
        help="comma-separated: eager,fold,compile,onnxruntime,executorch or all "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--precision",
        default="fp32",
        help="comma-separated: fp32,bf16,int8 (fp16 on CUDA) or all (default: %(default)s)",
    )
    p.add_argument("--batch-size", default="1", help="comma-separated (default: %(default)s)")
    p.add_argument("--input", metavar="C,H,W", help="default: each model's standard input")
    p.add_argument("--threads", type=int, help="torch and ONNX Runtime intra-op threads")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    p.add_argument("--mode", default="infer", help="infer or train (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=10, help="timed rounds (default: %(default)s)")
    p.add_argument(
        "--warmup",
        type=int,
        default=3,
        help="discarded warm-up rounds, >= 3 (default: %(default)s)",
    )
    p.add_argument("--format", default="table", help="table, json or csv (default: %(default)s)")
    p.add_argument("--out", help="write the output to this file (atomically)")


def cmd_bench(args: argparse.Namespace) -> int:
    from cnnzoo.bench.core import bench_models, make_config, spin_warning
    from cnnzoo.bench.render import RENDERERS
    from cnnzoo.files import write_text_atomic
    from cnnzoo.progress import rich_progress

    flags = {k: v for k, v in vars(args).items() if k not in ("command", "models")}
    config = make_config(args.models, **flags)
    warning = spin_warning(config.runtime, os.environ.get("OMP_WAIT_POLICY"))
    if warning:
        print(f"cnnzoo bench: warning: {warning}", file=sys.stderr)
    with rich_progress("cnnzoo bench") as progress:
        record = bench_models(config, progress)
    text = RENDERERS[config.format](record)
    if config.out:
        print(f"wrote {write_text_atomic(config.out, text)}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


PLOT_KINDS = ("accuracy-vs-ops", "ilsvrc", "depth", "mobilenet", "latency")


def add_plot_parser(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="charts: accuracy vs ops, ILSVRC errors, depth by year, MobileNet grid, latency",
        description="Draw one chart (matplotlib, off-screen) from the papers' figures, the "
        "profiler and, for latency, a `cnnzoo bench --format json` file.",
    )
    p.add_argument("kind", choices=PLOT_KINDS, help="the chart")
    p.add_argument("--out", help="FILE.png or FILE.svg (default: KIND.png)")
    p.add_argument("--bench", metavar="FILE.json", help="latency: a `cnnzoo bench` JSON file")
    p.add_argument(
        "--batch-size", type=int, help="latency: batch size to plot (default: 1, else the smallest)"
    )
    p.add_argument("--format", help="write several formats at once, e.g. png,svg")


def cmd_plot(args: argparse.Namespace) -> int:
    from cnnzoo.viz.plot import PlotConfig, plot

    data, paths = plot(config_from_args(PlotConfig, args))
    if data.left_out:
        print(f"left out ({data.left_out_reason}): {', '.join(data.left_out)}", file=sys.stderr)
    for path in paths:
        print(path)
    return 0


def add_export_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export to ONNX or ExecuTorch (XNNPACK), fp32 or static int8, and verify it",
        description="Export MODEL (random init, or --weights) or a CHECKPOINT of `cnnzoo train` "
        "to ONNX (torch.onnx dynamo exporter, checked with onnx.checker) or an ExecuTorch .pte "
        "lowered to XNNPACK. --quantize int8 calibrates static quantization on the TRAINING "
        "images of --calibration DATASET (a checkpoint's default: its own dataset).",
    )
    p.add_argument("model", metavar="MODEL|CHECKPOINT", help="a model name or a .pt checkpoint")
    p.add_argument("--format", default="onnx", help="onnx or executorch (default: %(default)s)")
    p.add_argument("--weights", metavar="PATH", help="weights for MODEL (torchvision/timm/cnnzoo)")
    p.add_argument(
        "--input", metavar="C,H,W", help="default: the checkpoint's or the model's input"
    )
    p.add_argument("--dynamic-batch", action="store_true", help="dynamic batch dimension (onnx)")
    p.add_argument("--quantize", metavar="int8", help="static int8 quantization")
    p.add_argument("--calibration", metavar="DATASET", help="calibration images' dataset")
    p.add_argument("--data-dir", help="folder of the calibration dataset's files")
    p.add_argument(
        "--verify",
        action="store_true",
        help="run the file in its runtime and compare with PyTorch eager; for int8 of "
        "a checkpoint also test top-1",
    )
    p.add_argument(
        "--out", metavar="FILE", help="default: beside the checkpoint, or ./<model>[-int8].<ext>"
    )


def cmd_export(args: argparse.Namespace) -> int:
    from cnnzoo.export.command import ExportConfig, export_model, summary_lines

    try:
        size = parse_input_size(args.input) if args.input else None
    except argparse.ArgumentTypeError as err:
        raise ValueError(str(err)) from None
    config = config_from_args(ExportConfig, args, input=size)

    def progress(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        print(f"\rtest top-1: {done:,}/{total:,} images", end=end, file=sys.stderr, flush=True)

    for line in summary_lines(export_model(config, progress)):
        print(line)
    return 0


def add_embed_parser(sub) -> None:
    p = sub.add_parser(
        "embed",
        help="t-SNE map of a network's codes: scatter, image grid, thumbnail map, k-NN accuracy",
        description="Embed N images of a split with SOURCE (a checkpoint of `cnnzoo train`, or a "
        "model name for an untrained network) and map their codes to 2-D with t-SNE "
        "(openTSNE, PCA initialisation). Writes features.npy, labels.npy, indices.npy, "
        "embedding.npy, scatter.png, grid.png, map.png and summary.json (5-NN accuracy in "
        "feature space and in the map, trustworthiness).",
    )
    p.add_argument("source", metavar="CHECKPOINT|MODEL", help="a .pt checkpoint or a model name")
    p.add_argument("--dataset", help="default: the checkpoint's dataset, else fashion-mnist")
    p.add_argument("--data-dir", help="folder with the dataset's files")
    p.add_argument("--split", default="test", help="test or train (default: %(default)s)")
    p.add_argument(
        "--n",
        default="5000",
        metavar="N|all",
        help="images to embed, a seeded sample (default: %(default)s)",
    )
    p.add_argument(
        "--layer",
        metavar="NAME",
        help="embed this module's output, average-pooled (default: the pre-logits "
        "vector: fc7 for AlexNet/VGG, F6 for LeNet-5)",
    )
    p.add_argument("--perplexity", type=float, default=30.0, help="default: %(default)s")
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    p.add_argument("--out", metavar="DIR", help="default: runs/embed-<model>-<dataset>-<split>")
    p.add_argument("--batch-size", type=int, default=256, help="default: %(default)s")
    p.add_argument(
        "--input-size",
        type=int,
        metavar="S",
        help="a model name's input side (default: the dataset's)",
    )
    p.add_argument(
        "--compare",
        metavar="CHECKPOINT|MODEL",
        help="embed the same images with this network too, side by side",
    )
    p.add_argument(
        "--add-to", metavar="DIR", help="place images (--split/--n, or --images) in the map in DIR"
    )
    p.add_argument(
        "--images",
        nargs="+",
        default=(),
        metavar="IMAGE",
        help="with --add-to: image files to place",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace --out even if it holds files cnnzoo did not write",
    )


def cmd_embed(args: argparse.Namespace) -> int:
    from cnnzoo.embed.command import EmbedConfig, embed, parse_n, summary_lines
    from cnnzoo.progress import rich_progress

    config = config_from_args(EmbedConfig, args, n=parse_n(args.n), images=tuple(args.images))
    with rich_progress("cnnzoo embed") as progress:
        answer = embed(config, progress)
    for line in summary_lines(answer):
        print(line)
    return 0


def add_report_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="one static HTML site of every network, chart, calculation and result",
        description="Measure the whole zoo and write a self-contained static site: the evolution "
        "table and charts (index.html), one page per family (paper, deviations, stage layouts, "
        "per-layer profiles, receptive field), the lecture's calculations (explain.html) and, "
        "from the folders and files given, training runs, benchmarks, t-SNE maps and searches "
        "(results.html). Nothing is fetched when the pages are viewed.",
    )
    p.add_argument("--out", default="site", metavar="DIR", help="default: %(default)s")
    p.add_argument(
        "--runs",
        nargs="+",
        default=(),
        metavar="RUN_DIR",
        help="cnnzoo train run folders: curves and confusion matrix",
    )
    p.add_argument(
        "--bench",
        nargs="+",
        default=(),
        metavar="FILE.json",
        help="cnnzoo bench --format json files: speed table, latency chart",
    )
    p.add_argument(
        "--embed",
        nargs="+",
        default=(),
        metavar="DIR",
        help="cnnzoo embed folders: t-SNE scatter and grid",
    )
    p.add_argument(
        "--nas",
        nargs="+",
        default=(),
        metavar="DIR",
        help="cnnzoo nas search folders: search curve and best cell",
    )
    p.add_argument(
        "--models",
        nargs="+",
        default=(),
        metavar="MODEL",
        help="profile only these models (default: the whole zoo)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="load every page in headless Chromium; fail on console errors or broken "
        "images; screenshots in DIR/screenshots",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace DIR even if it holds files cnnzoo did not write",
    )


def cmd_report(args: argparse.Namespace) -> int:
    from cnnzoo.report.site import ReportConfig, build_report

    config = config_from_args(
        ReportConfig,
        args,
        runs=tuple(args.runs),
        bench=tuple(args.bench),
        embed=tuple(args.embed),
        nas=tuple(args.nas),
        models=tuple(args.models),
    )
    broken: list[str] = []

    def check(site: Path, pages: list[str]) -> None:  # the browser, on the staged site
        from cnnzoo.report.browser import check_site

        for load in check_site(str(site), pages, site / "screenshots"):
            problems = [*load.console, *(f"broken image {src}" for src in load.broken_images)]
            broken.extend(f"{Path(load.path).name}: {line}" for line in problems)

    result = build_report(
        config,
        lambda line: print(f"cnnzoo report: error: {line}; left out", file=sys.stderr, flush=True),
        check if args.check else None,
    )
    for line in broken:
        print(f"cnnzoo report: {line}", file=sys.stderr)
    print(
        f"wrote {len(result['pages'])} pages to {result['out']}/ in {result['seconds']:.1f} s "
        f"(open {result['out']}/index.html)"
    )
    if args.check:
        print(
            f"checked {len(result['pages'])} pages in headless Chromium; screenshots in "
            f"{Path(result['out']) / 'screenshots'}/"
        )
    return 1 if result["problems"] or broken else 0


GENOTYPE_HELP = "a genotype, e.g. a search's best_genotype.json, or its pareto.json with --trial"
TRIAL_HELP = "the member of a pareto.json to take, by trial number"


def add_nas_parser(sub) -> None:
    from cnnzoo.nas.proxy import Proxy
    from cnnzoo.nas.strategies import POPULATION, SAMPLE, STRATEGIES

    nas = sub.add_parser(
        "nas",
        help="architecture search in the NASNet cell space",
        description="Search a NASNet cell on a small proxy, train the "
        "transferred network, draw cells.",
    )
    verbs = nas.add_subparsers(dest="nas_command", required=True, metavar="search|train|show")
    p = verbs.add_parser(
        "search",
        help="regularized evolution, random search or NSGA-II (accuracy against "
        "MACs), state in an Optuna study",
        description="Each candidate trains a small nasnet_cifar network of its cell on part of "
        "the TRAINING split and is scored on images held out from it (never the test split). "
        "The state is an Optuna study (SQLite in --out, or --storage URL such as "
        "postgresql+psycopg://user@host/db): the same command run again, or on another machine "
        "with the same --storage and --study, completes the remaining candidates. Writes "
        "history.csv, search_curve.png, best_genotype.json, best_cell.png/.svg, and the Pareto "
        "front of validation top-1 against MACs (pareto.json, pareto_front.png): the goal of "
        "--strategy nsga2, a by-product of the others.",
    )
    proxy = Proxy()
    p.add_argument("--dataset", default="fashion-mnist", help="default: %(default)s")
    p.add_argument("--data-dir", help="folder with the dataset's files")
    p.add_argument(
        "--strategy", choices=STRATEGIES, default="evolution", help="default: %(default)s"
    )
    p.add_argument(
        "--budget-candidates",
        type=int,
        default=100,
        metavar="K",
        help="the study's total of candidates (default: %(default)s)",
    )
    p.add_argument(
        "--budget-minutes",
        type=float,
        metavar="M",
        help="stop this command after M minutes (the study's budget stays)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="W",
        help="processes here, each with cores/W threads (default: 1)",
    )
    p.add_argument(
        "--storage",
        metavar="URL",
        help="default: sqlite:///<out>/search.db; give "
        "a password in PGPASSWORD or a password file, not in the URL "
        "(docs/nas-storage.md)",
    )
    p.add_argument("--study", metavar="NAME", help="default: <dataset>-<strategy>-seed<seed>")
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    p.add_argument("--out", default="runs/nas-search", metavar="DIR", help="default: %(default)s")
    p.add_argument(
        "--force",
        action="store_true",
        help="write into DIR even if it holds files cnnzoo did not write",
    )
    p.add_argument("--ops", metavar="OP,OP", help="the operations to search (default: all 13)")
    p.add_argument(
        "--population",
        type=int,
        default=POPULATION,
        help="evolution's P, NSGA-II's population (default: %(default)s)",
    )
    p.add_argument(
        "--sample", type=int, default=SAMPLE, help="evolution's S (default: %(default)s)"
    )
    p.add_argument(
        "--proxy-cells",
        type=int,
        default=proxy.num_cells,
        metavar="N",
        help="N of the candidates (default: %(default)s)",
    )
    p.add_argument(
        "--proxy-filters",
        type=int,
        default=proxy.filters,
        metavar="F",
        help="F of the candidates (default: %(default)s)",
    )
    p.add_argument("--proxy-epochs", type=int, default=proxy.epochs, help="default: %(default)s")
    p.add_argument(
        "--proxy-train-images", type=int, default=proxy.train_images, help="default: %(default)s"
    )
    p.add_argument(
        "--proxy-val-images",
        type=int,
        default=proxy.val_images,
        help="held out from the training split (default: %(default)s)",
    )

    p = verbs.add_parser(
        "train",
        help="train a searched cell, stacked N times with P penultimate filters",
        description="Train the nasnet_cifar network of GENOTYPE.json (N normal cells per stack, "
        "P filters at the end, ScheduledDropPath on) with the training engine; the flags of "
        "`cnnzoo train` apply.",
    )
    p.add_argument("genotype", metavar="GENOTYPE.json", help=GENOTYPE_HELP)
    p.add_argument("--trial", type=int, metavar="N", help=TRIAL_HELP)
    p.add_argument("--num-cells", type=int, default=2, metavar="N", help="default: %(default)s")
    p.add_argument(
        "--penultimate-filters",
        type=int,
        metavar="P",
        help="width of the last cell (default: from --filters)",
    )
    p.add_argument(
        "--filters",
        type=int,
        default=16,
        metavar="F",
        help="the first stack's filters, when P is not given (default: %(default)s)",
    )
    p.add_argument(
        "--drop-path-prob",
        type=float,
        default=0.2,
        help="ScheduledDropPath of the last cell at the end (default: %(default)s)",
    )
    add_train_flags(p)

    p = verbs.add_parser("show", help="draw the normal and reduction cell of a genotype")
    p.add_argument("genotype", metavar="GENOTYPE.json", help=GENOTYPE_HELP)
    p.add_argument("--trial", type=int, metavar="N", help=TRIAL_HELP)
    p.add_argument(
        "--out", metavar="STEM", help="writes STEM.png and STEM.svg (default: beside the genotype)"
    )


def cmd_nas(args: argparse.Namespace) -> int:
    return {"search": cmd_nas_search, "train": cmd_nas_train, "show": cmd_nas_show}[
        args.nas_command
    ](args)


def cmd_nas_search(args: argparse.Namespace) -> int:
    from cnnzoo.nas.proxy import Proxy
    from cnnzoo.nas.search import SearchConfig, search

    proxy = Proxy(
        num_cells=args.proxy_cells,
        filters=args.proxy_filters,
        epochs=args.proxy_epochs,
        train_images=args.proxy_train_images,
        val_images=args.proxy_val_images,
    )
    ops = tuple(op.strip() for op in args.ops.split(",")) if args.ops else None
    config = config_from_args(SearchConfig, args, proxy=proxy, ops=ops)

    shown: list[tuple[int, int]] = []

    def show(s: dict) -> None:  # a line when a candidate starts or finishes
        if shown and shown[-1] == (s["complete"], s["running"]):
            return
        shown.append((s["complete"], s["running"]))
        best = "-" if s["best"] is None else f"{s['best']:.2%}"
        print(
            f"nas search: {s['complete']}/{s['budget']} candidates, {s['running']} running, "
            f"best {best}, {s['per_minute']:.2f} per minute",
            file=sys.stderr,
            flush=True,
        )

    summary = search(config, show)
    if "best_score" in summary:
        print(
            f"best of {summary['complete']} candidates: trial {summary['best_number']}, "
            f"validation top-1 {summary['best_score']:.2%}, {summary['best_macs'] / 1e6:.1f} M "
            f"MACs, {summary['best_params']:,} parameters; {summary['pareto']} on the "
            "Pareto front of validation top-1 and MACs"
        )
    print(
        f"wrote {summary['out']}/search.json, history.csv"
        + (
            ", search_curve.png, "
            "best_genotype.json, "
            "best_cell.png/.svg, pareto.json, pareto_front.png"
            if "best_score" in summary
            else ""
        )
    )
    return 0


def cmd_nas_train(args: argparse.Namespace) -> int:
    from cnnzoo.interrupt import Interrupted
    from cnnzoo.nas.pareto import genotype_from_file
    from cnnzoo.nas.proxy import MODEL, candidate_kwargs
    from cnnzoo.train.engine import run

    genotype = genotype_from_file(args.genotype, args.trial)
    kwargs = candidate_kwargs(
        genotype,
        args.num_cells,
        args.filters,
        args.drop_path_prob,
        penultimate_filters=args.penultimate_filters,
    )
    config = config_from_args(TrainConfig, args, model=MODEL, model_kwargs=kwargs)
    try:
        run(config)
    except Interrupted as stop:
        again = [a for a in sys.argv[1:] if a != "--resume"]
        if "--out" not in again:
            again += ["--out", str(stop.run_dir)]
        print(
            f"cnnzoo nas train: {stop}; continue with: {shlex.join(['cnnzoo', *again])} --resume",
            file=sys.stderr,
            flush=True,
        )
        return stop.exit_code
    return 0


def cmd_nas_show(args: argparse.Namespace) -> int:
    from cnnzoo.nas.draw import save_genotype
    from cnnzoo.nas.pareto import genotype_from_file

    genotype = genotype_from_file(args.genotype, args.trial)
    default = Path(args.genotype).with_suffix("")
    stem = args.out or str(
        default if args.trial is None else default.with_name(f"{default.name}-trial{args.trial}")
    )
    for path in save_genotype(genotype, stem):
        print(f"wrote {path}")
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

    add_train_parser(sub)
    add_eval_parser(sub)
    add_predict_parser(sub)
    add_bench_parser(sub)
    add_plot_parser(sub)
    add_export_parser(sub)
    add_embed_parser(sub)
    add_nas_parser(sub)
    add_report_parser(sub)
    return parser, sub


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": cmd_list,
    "summary": cmd_summary,
    "compare": cmd_compare,
    "explain": cmd_explain,
    "train": cmd_train,
    "eval": cmd_eval,
    "predict": cmd_predict,
    "bench": cmd_bench,
    "plot": cmd_plot,
    "export": cmd_export,
    "embed": cmd_embed,
    "nas": cmd_nas,
    "report": cmd_report,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser, _ = build_parser()
    args = parser.parse_args(argv)
    name = " ".join(filter(None, (args.command, getattr(args, "nas_command", None))))
    return run_command(name, lambda: COMMANDS[args.command](args))


if __name__ == "__main__":
    raise SystemExit(main())
