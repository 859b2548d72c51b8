"""Using a trained checkpoint: ``cnnzoo eval`` (accuracy, per-class accuracy, confusion matrix)
and ``cnnzoo predict`` (top-k classes of image files).

A cnnzoo checkpoint records the model's name and keyword arguments and the dataset's class names,
normalisation and input size, so both commands need nothing else. ``predict`` also takes a plain
state dict (a torchvision ``.pth``) with ``--model NAME``; it is then taken for an ImageNet model
(3 x 224 x 224, ImageNet normalisation, the 1000 ImageNet class names).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import torch
from torch import nn

from cnnzoo.data import DatasetInfo, image_transform, load_dataset
from cnnzoo.data.imagefolder import DEFAULT_SIZE, IMAGENET_MEAN, IMAGENET_STD, image_mode
from cnnzoo.reading import read_image  # also the image reader of ``embed``
from cnnzoo.registry import create_model, load_weights
from cnnzoo.train.build import Runtime, make_stream
from cnnzoo.train.checkpoint import CheckpointError, load_checkpoint
from cnnzoo.train.config import EvalConfig, PredictConfig
from cnnzoo.train.distributed import DistInfo
from cnnzoo.train.engine import evaluate
from cnnzoo.viz import plot_confusion_matrix

IMAGENET_CLASSES = 1000
WORDNET_ID = re.compile(r"n\d{8}")  # ImageNet's class folders are WordNet ids, e.g. n01440764


def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet class names in label order, from torchvision's offline weight metadata."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def readable_class_names(names: list[str] | tuple[str, ...], num_classes: int) -> tuple[str, ...]:
    """Class names for display: a 1000-class set named by WordNet ids gets the ImageNet names."""
    if num_classes == IMAGENET_CLASSES and (
        not names or all(WORDNET_ID.fullmatch(n) for n in names)
    ):
        return imagenet_class_names()
    return tuple(names) if names else tuple(str(i) for i in range(num_classes))


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def load_model(path: str | Path, model_name: str | None = None) -> tuple[nn.Module, dict]:
    """Rebuild the model of a checkpoint, in eval mode, on the CPU.

    Args:
        path: a cnnzoo checkpoint; or, with ``model_name``, a plain state dict of that model.
        model_name: registry name for a plain state dict (taken for an ImageNet model).

    Returns:
        The model and the dataset record (``DatasetInfo`` fields plus ``input_size``).

    Raises:
        CheckpointError: unreadable file, pickled objects, or a file that is neither.
    """
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as err:
        if model_name is None or "is not a cnnzoo checkpoint" not in str(err):
            raise
        model = create_model(model_name, num_classes=IMAGENET_CLASSES, in_chans=3)
        load_weights(model, path)
        record = {
            "name": "imagenet",
            "num_classes": IMAGENET_CLASSES,
            "in_chans": 3,
            "image_size": DEFAULT_SIZE,
            "input_size": DEFAULT_SIZE,
            "class_names": list(imagenet_class_names()),
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
        }
        return model.eval(), record
    model = create_model(ckpt["model_name"], **ckpt["model_kwargs"])
    try:
        model.load_state_dict(ckpt["model"], strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise CheckpointError(f"checkpoint {str(path)!r} does not fit its model: {first}") from None
    return model.eval(), ckpt["dataset"]


def info_from_record(record: dict) -> DatasetInfo:
    """The :class:`DatasetInfo` a checkpoint recorded."""
    return DatasetInfo(
        name=record["name"],
        num_classes=record["num_classes"],
        in_chans=record["in_chans"],
        image_size=record["image_size"],
        class_names=tuple(record["class_names"]),
        mean=tuple(record["mean"]),
        std=tuple(record["std"]),
    )


def check_fits(record: dict, info: DatasetInfo) -> None:
    """Raise a one-line ``ValueError`` unless the dataset has the checkpoint's classes and channels.

    Args:
        record: the checkpoint's dataset record (:func:`load_model`).
        info: the dataset to use it on.
    """
    if (info.num_classes, info.in_chans) != (record["num_classes"], record["in_chans"]):
        raise ValueError(
            f"{info.name} has {info.num_classes} classes of {info.in_chans}-channel images; "
            f"the checkpoint was trained on {record['num_classes']} classes of "
            f"{record['in_chans']}-channel images ({record['name']})"
        )


def evaluate_checkpoint(config: EvalConfig) -> dict:
    """Evaluate a checkpoint on its dataset's test split (or ``config.dataset``'s).

    Returns:
        A JSON-ready dict: ``checkpoint``, ``model``, ``dataset``, ``tta``, ``count``, ``top1``,
        ``top5``, ``error1``, ``error5``, ``loss``, ``per_class`` (name -> accuracy),
        ``confusion`` (rows = true class) and ``confusion_png``.

    Raises:
        ValueError: unreadable checkpoint, missing data, or a dataset whose classes or channels
            differ from the checkpoint's.
    """
    model, record = load_model(config.checkpoint)
    name = config.dataset or record["name"]
    data_dir = config.data_dir or (record.get("data_dir") if name == record["name"] else None)
    size = record["input_size"]
    data = load_dataset(name, data_dir=data_dir, input_size=size)
    check_fits(record, data.info)
    # Normalise as in training, whatever the statistics of the evaluation set.
    info = dataclasses.replace(data.info, mean=tuple(record["mean"]), std=tuple(record["std"]))
    runtime = Runtime(DistInfo(device=default_device()))
    stream = make_stream(
        data.test,
        info,
        batch_size=config.batch_size,
        train=False,
        seed=0,
        size=size,
        runtime=runtime,
    )
    result = evaluate(
        model.to(runtime.device), stream, runtime, num_classes=info.num_classes, tta=config.tta
    )
    names = readable_class_names(data.info.class_names, info.num_classes)
    checkpoint = Path(config.checkpoint)
    suffix = "" if config.tta == "none" else f"-{config.tta}"
    png = Path(
        config.out or checkpoint.with_name(f"{checkpoint.stem}-confusion-{name}{suffix}.png")
    )
    plot_confusion_matrix(
        result["confusion"],
        names,
        png,
        title=f"{model.model_name or checkpoint.name} on {name} test: top-1 {result['top1']:.2%}",
    )
    return {
        "checkpoint": str(checkpoint),
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
def predict(config: PredictConfig, model_name: str | None = None) -> list[dict]:
    """The top-k classes of each image, preprocessed as the checkpoint's test images were.

    The images are read with :func:`cnnzoo.reading.read_image`: regular files only, of the format
    their name says, 16-bit and float images converted faithfully; any other is a one-line
    ``ValueError`` naming it.

    Returns:
        One dict per image: ``image`` and ``top`` (a list of ``{"class", "index",
        "probability"}``, most probable first).
    """
    model, record = load_model(config.checkpoint, model_name)
    info = info_from_record(record)
    transform = image_transform(info, input_size=record["input_size"])
    names = readable_class_names(info.class_names, info.num_classes)
    mode = image_mode(info)
    batch = torch.stack([transform(read_image(path, mode)) for path in config.images])
    probs = model(batch).float().softmax(1)
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
