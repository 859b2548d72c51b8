"""The ``train``, ``eval`` and ``predict`` sub-commands.

:func:`add_commands` adds their parsers to the ``cnnzoo`` command line and returns their handlers;
each handler turns the parsed flags into a frozen configuration (one field per flag) and runs it.
Bad input raises ``ValueError``, which the command line prints as one line.

``python -m cnnzoo.train.commands train ...`` runs the same commands without the rest of the CLI
(``torchrun --nproc-per-node K -m cnnzoo.train.commands train ...`` too).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable

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
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="autocast precision (default: %(default)s)")  # fmt: skip
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    p.add_argument("--compile", action="store_true", help="wrap the model in torch.compile")
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    p.add_argument("--subset", type=int, help="train on the first N images only")
    p.add_argument("--input-size", type=int, help="resize the images to this side")
    p.add_argument("--out", help="run folder (default: runs/<model>-<dataset>-<time>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out (default: the newest) from last.pt")  # fmt: skip
    p.add_argument("--deterministic", action="store_true",
                   help="deterministic kernels (bitwise-reproducible on CPU)")  # fmt: skip
    p.add_argument("--checkpoint-every", type=int, default=200,
                   help="also save last.pt every N steps, 0 = at epoch ends only "
                   "(default: %(default)s)")  # fmt: skip


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
    p.add_argument("--tta", choices=TTA_NAMES, default="none",
                   help="test-time augmentation (default: %(default)s)")  # fmt: skip
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
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.name not in extra}
    return cls(**values, **extra)


def cmd_train(args: argparse.Namespace) -> int:
    from cnnzoo.train.engine import run

    config = config_from_args(TrainConfig, args)
    try:
        run(config)
    except KeyboardInterrupt:
        print("interrupted; continue with the same command and --resume (its last.pt is kept)",
              file=sys.stderr)  # fmt: skip
        return 130
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from cnnzoo.train.inference import evaluate_checkpoint

    result = evaluate_checkpoint(config_from_args(EvalConfig, args))
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['checkpoint']} on {result['dataset']} test ({result['count']:,} images, "
          f"tta {result['tta']})")  # fmt: skip
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

    results = predict(config_from_args(PredictConfig, args, images=tuple(args.images)),
                      model_name=args.model)  # fmt: skip
    if args.format == "json":
        print(json.dumps(results, indent=2))
        return 0
    for result in results:
        print(result["image"])
        width = max(len(row["class"]) for row in result["top"])
        for row in result["top"]:
            print(f"  {row['class']:<{width}}  {row['probability']:7.2%}")
    return 0


PARSERS = {"train": add_train_parser, "eval": add_eval_parser, "predict": add_predict_parser}
HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": cmd_train,
    "eval": cmd_eval,
    "predict": cmd_predict,
}


def add_commands(subparsers) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add the ``train``, ``eval`` and ``predict`` parsers to ``subparsers``.

    Returns:
        Their handlers by command name, each ``(args) -> exit code``.
    """
    for add in PARSERS.values():
        add(subparsers)
    return dict(HANDLERS)
