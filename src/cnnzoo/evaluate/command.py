"""``cnnzoo eval`` (accuracy, per-class accuracy, confusion matrix) and ``cnnzoo predict`` (top-k
classes of image files), for any source (:mod:`cnnzoo.source`).

A checkpoint records its model, its dataset's class names, normalisation and input size, so it
needs nothing else. Published ImageNet weights (``MODEL --weights W``) are evaluated with the
preprocessing they were published with -- torchvision's reference (resize 256, centre crop 224),
or timm's for the networks only timm has -- on ``--dataset imagenet`` (ILSVRC-2012 as its devkit
labels it) or an ``imagefolder`` of the same classes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from cnnzoo.data import load_dataset
from cnnzoo.data.loader import make_stream
from cnnzoo.distributed import DistInfo, Runtime
from cnnzoo.evaluate.loop import EVAL_BATCH, TTA, eval_batch, evaluate
from cnnzoo.options import check_choices, option, require
from cnnzoo.source import (
    Source,
    default_device,
    open_source,
    readable_class_names,
    weights_option,
)
from cnnzoo.text import table
from cnnzoo.viz import plot_confusion_matrix

SOURCE = "a .pt file of `cnnzoo train`, or a model name"


@dataclass(frozen=True)
class EvalConfig:
    """``cnnzoo eval SOURCE [flags]``.

    Args:
        source: a checkpoint of ``cnnzoo train``, or a model name with ``weights``.
        weights: local torchvision or timm ImageNet weights of the named model.
        dataset: evaluate on this dataset instead of the checkpoint's (same classes and
            channels); for weights: ``imagenet`` (the default) or ``imagefolder``.
        data_dir: where the dataset's files are; default: the one recorded in the checkpoint.
        tta: test-time augmentation: ``none``, ``flip`` (average with the mirror image),
            ``flip-shift`` (the image and its mirror, and both moved one pixel up-left and
            down-right) or ``10crop`` (four corners and centre of an 8/7 enlargement, and their
            mirrors).
        format: ``text`` or ``json`` on standard output.
        batch_size: images per forward pass; default: the evaluation batch of the device.
        out: path of the confusion-matrix PNG; default beside the checkpoint or weights.
    """

    source: str = option(help=SOURCE, metavar="CHECKPOINT|MODEL")
    weights: str | None = weights_option("none")
    dataset: str | None = option(
        None,
        help="evaluate on this dataset",
        default_help="the checkpoint's; weights: imagenet",
    )
    data_dir: str | None = option(
        None, help="folder with the dataset's files", default_help="the checkpoint's"
    )
    tta: str = option("none", help="test-time augmentation", choices=TTA)
    format: str = option("text", help="", choices="cnnzoo.evaluate.command:EVAL_FORMATS")
    batch_size: int | None = option(
        None,
        help="",
        default_help="the device's evaluation batch ("
        + ", ".join(f"{device.upper()} {n}" for device, n in EVAL_BATCH.items())
        + ")",
    )
    out: str | None = option(
        None, help="confusion-matrix PNG path", default_help="beside the checkpoint"
    )

    def __post_init__(self) -> None:
        check_choices(self)
        require(self.batch_size is None or self.batch_size > 0, "--batch-size must be positive")


@dataclass(frozen=True)
class PredictConfig:
    """``cnnzoo predict SOURCE IMAGE...``.

    Args:
        source: a checkpoint of ``cnnzoo train``, or a model name with ``weights``.
        images: image files (anything Pillow reads); converted to the source's channels,
            resized and normalised as its test images were.
        weights: local torchvision or timm ImageNet weights of the named model.
        topk: how many classes to show per image.
        format: ``text`` or ``json`` on standard output.
    """

    source: str = option(help=SOURCE, metavar="CHECKPOINT|MODEL")
    images: tuple[str, ...] = option(help="image files", nargs="+", metavar="IMAGE")
    weights: str | None = weights_option("none")
    topk: int = option(5, help="classes shown per image")
    format: str = option("text", help="", choices="cnnzoo.evaluate.command:PREDICT_FORMATS")

    def __post_init__(self) -> None:
        require(len(self.images) > 0, "give at least one image")
        require(self.topk > 0, "--topk must be positive")
        check_choices(self)


def trained_source(text: str, weights: str | None) -> Source:
    """The source to evaluate or use: a checkpoint, or a model name with its weights."""
    source = open_source(text, weights=weights, device=default_device())
    if source.origin == "random":
        raise ValueError(
            f"{text} is a model name: give its weights (--weights FILE, torchvision's or timm's), "
            "or a checkpoint of `cnnzoo train`"
        )
    if not source.trained:
        raise ValueError(
            f"--weights of {text}: the dataset of weights of a network that is not an ImageNet "
            "classifier is not known; use a checkpoint of `cnnzoo train`"
        )
    return source


def confusion_png(config: EvalConfig, source: Source, dataset: str) -> Path:
    """Where the confusion matrix goes: ``--out``, or beside the checkpoint or weights file."""
    if config.out:
        return Path(config.out)
    suffix = "" if config.tta == "none" else f"-{config.tta}"
    return source.path.with_name(f"{source.path.stem}-confusion-{dataset}{suffix}.png")


def evaluate_source(config: EvalConfig) -> dict:
    """Evaluate a checkpoint or published weights on a test split.

    Returns:
        A JSON-ready dict: ``checkpoint`` (the file evaluated), ``model``, ``dataset``, ``tta``,
        ``count``, ``top1``, ``top5``, ``error1``, ``error5``, ``loss``, ``per_class`` (name ->
        accuracy), ``confusion`` (rows = true class) and ``confusion_png``.

    Raises:
        ValueError: an unreadable source, missing data, or a dataset whose classes or channels
            differ from the source's.
    """
    source = trained_source(config.source, config.weights)
    record = source.record
    name = config.dataset or record["name"]
    data_dir = config.data_dir or (record.get("data_dir") if name == record["name"] else None)
    data = load_dataset(
        name, data_dir=data_dir, input_size=record["input_size"], preset=source.preset()
    )
    source.check_fits(data.info)
    # normalise as in training, whatever the statistics of the evaluation set
    info = dataclasses.replace(data.info, mean=tuple(record["mean"]), std=tuple(record["std"]))
    runtime = Runtime(DistInfo(device=source.device))
    batch = config.batch_size or eval_batch(source.device)
    size = record["input_size"]
    stream = make_stream(
        data.test, info, batch_size=batch, train=False, seed=0, size=size, runtime=runtime
    )
    result = evaluate(source.model, stream, runtime, num_classes=info.num_classes, tta=config.tta)
    names = readable_class_names(data.info.class_names, info.num_classes)
    png = confusion_png(config, source, name)
    plot_confusion_matrix(
        result["confusion"],
        names,
        png,
        title=f"{source.name} on {name} test: top-1 {result['top1']:.2%}",
    )
    return {
        "checkpoint": str(source.path),
        "model": source.name,
        "dataset": name,
        "tta": config.tta,
        "count": result["count"],
        "top1": result["top1"],
        "top5": result["top5"],
        "error1": result["error1"],
        "error5": result["error5"],
        "loss": result["loss"],
        "per_class": dict(zip(names, result["per_class"], strict=True)),
        "confusion": result["confusion"].tolist(),
        "confusion_png": str(png),
    }


@torch.inference_mode()
def predict(config: PredictConfig) -> list[dict]:
    """The top-k classes of each image, preprocessed as the source's test images were.

    The images are read with :func:`cnnzoo.reading.read_image`: regular files only, of the format
    their name says, 16-bit and float images converted faithfully; any other is a one-line
    ``ValueError`` naming it.

    Returns:
        One dict per image: ``image`` and ``top`` (a list of ``{"class", "index",
        "probability"}``, most probable first).
    """
    source = trained_source(config.source, config.weights)
    info = source.info()
    names = source.class_names()
    batch = source.read_images(config.images)
    probs = source.model(batch.to(source.device)).float().softmax(1).cpu()
    top = probs.topk(min(config.topk, info.num_classes), dim=1)
    return [
        {
            "image": str(path),
            "top": [
                {"class": names[i], "index": i, "probability": p}
                for p, i in zip(values.tolist(), indices.tolist(), strict=True)
            ],
        }
        for path, values, indices in zip(config.images, top.values, top.indices, strict=True)
    ]


def eval_text(result: dict) -> str:
    """An :func:`evaluate_source` result as text: the accuracies, the loss, the per-class
    accuracy and the confusion matrix's file."""
    lines = [
        f"{result['checkpoint']} on {result['dataset']} test ({result['count']:,} images, "
        f"tta {result['tta']})",
        f"top-1 accuracy {result['top1']:.2%}  error {result['error1']:.2%}",
        f"top-5 accuracy {result['top5']:.2%}  error {result['error5']:.2%}",
        f"loss {result['loss']:.4f}",
        "per-class accuracy:",
    ]
    accuracies = [
        (name, "no images" if acc is None else f"{acc:.2%}")
        for name, acc in result["per_class"].items()
    ]
    lines.append(table(accuracies, indent="  "))
    lines.append(f"confusion matrix: {result['confusion_png']}")
    return "".join(f"{line}\n" for line in lines)


def predict_text(results: list[dict]) -> str:
    """:func:`predict`'s results as text: each image, then its classes and probabilities."""
    lines = []
    for result in results:
        lines.append(result["image"])
        top = [(row["class"], f"{row['probability']:7.2%}") for row in result["top"]]
        lines.append(table(top, align="<>", indent="  "))
    return "".join(f"{line}\n" for line in lines)


def json_text(value) -> str:
    return json.dumps(value, indent=2) + "\n"


# --format name -> renderer of the result
EVAL_FORMATS = {"text": eval_text, "json": json_text}
PREDICT_FORMATS = {"text": predict_text, "json": json_text}


def eval_output(config: EvalConfig) -> str:
    """What ``cnnzoo eval`` prints: the evaluation in ``config.format``."""
    return EVAL_FORMATS[config.format](evaluate_source(config))


def predict_output(config: PredictConfig) -> str:
    """What ``cnnzoo predict`` prints: the predictions in ``config.format``."""
    return PREDICT_FORMATS[config.format](predict(config))
