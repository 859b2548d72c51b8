"""ILSVRC-2012 as its devkit labels it, and the evaluation presets of published ImageNet weights.

The layout is torchvision's ``ImageNet`` dataset's: ``meta.bin`` (the devkit's WordNet ids and
class names, written by torchvision from ``ILSVRC2012_devkit_t12.tar.gz`` on first use) and
``val/<wnid>/<image>`` (made by torchvision from ``ILSVRC2012_img_val.tar`` on first use), likewise
``train/<wnid>/<image>``. The archives, when only they are there, are unpacked by torchvision's own
functions. Labels are the index of the image's WordNet id among all 1000 ids of the devkit,
sorted -- the order every ImageNet classifier of torchvision and timm uses -- so a folder holding
a few classes still gets the labels the weights predict.

An :class:`EvalPreset` is the test-time preprocessing of a set of weights: resize the shorter side,
crop the centre, normalise. torchvision's reference recipe is resize 256, crop 224, bilinear and
ImageNet's statistics; timm records its own per model (crop fraction, bicubic, its statistics).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from cnnzoo.data.base import DataError, Dataset, DatasetInfo, refusals_as_data_errors
from cnnzoo.data.imagefolder import (
    DEFAULT_SIZE,
    EVAL_CROP_FRACTION,
    IMAGE_EXTENSIONS,
    EvalPreset,
    ImageFiles,
    imagefolder_transform,
)
from cnnzoo.reading import walk_files

IMAGENET_CLASSES = 1000  # ILSVRC-2012's classes (Russakovsky et al. 2015, Sec. 2.1)
META_FILE = "meta.bin"  # torchvision's digest of the devkit
DEVKIT = "ILSVRC2012_devkit_t12.tar.gz"
ARCHIVES = {"train": "ILSVRC2012_img_train.tar", "val": "ILSVRC2012_img_val.tar"}


def preset_of(record: dict) -> EvalPreset:
    """The preset a dataset record describes (the standard 0.875 crop where it names none)."""
    size = record["input_size"]
    return EvalPreset(
        crop=size,
        resize=record.get("resize") or math.floor(size / EVAL_CROP_FRACTION),
        interpolation=record.get("interpolation", "bilinear"),
        mean=tuple(record["mean"]),
        std=tuple(record["std"]),
    )


def read_meta(root: Path) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """The devkit's WordNet ids (sorted: label order) and their class names.

    ``meta.bin`` is made from the devkit archive by torchvision when it is missing.

    Raises:
        DataError: neither ``meta.bin`` nor the devkit archive is in ``root``, or they are
            unreadable.
    """
    from torchvision.datasets import imagenet as tv

    if not (root / META_FILE).is_file():
        if not (root / DEVKIT).is_file():
            raise DataError(
                f"imagenet: {root} holds neither {META_FILE} nor {DEVKIT} (the ILSVRC-2012 "
                "development kit, whose labels name the classes)"
            )
        try:
            tv.parse_devkit_archive(str(root))
        except (RuntimeError, OSError, ValueError) as err:
            raise DataError(f"imagenet: {root / DEVKIT}: {err}") from None
    try:
        wnid_to_classes, _ = tv.load_meta_file(str(root))
    except Exception as err:  # a truncated or foreign file: torch.load's errors vary
        raise DataError(f"imagenet: {root / META_FILE} cannot be read: {err}") from None
    if not isinstance(wnid_to_classes, dict) or not wnid_to_classes:
        raise DataError(f"imagenet: {root / META_FILE} holds no WordNet ids")
    return sorted(wnid_to_classes), {k: tuple(v) for k, v in wnid_to_classes.items()}


def split_images(root: Path, split: str, wnids: list[str]) -> list[tuple[Path, int]]:
    """``(image, label)`` of ``root/split/<wnid>/*``, labels indexing all of ``wnids``.

    The split's folder is made from its archive (torchvision's functions) when only that is there.

    Raises:
        DataError: no folder and no archive, a folder that is not a WordNet id of the devkit, or
            no image at all.
    """
    folder = root / split
    if not folder.is_dir():
        if not (root / ARCHIVES[split]).is_file():
            raise DataError(
                f"imagenet: {root} holds neither {split}/ nor {ARCHIVES[split]} (the ILSVRC-2012 "
                f"{split} images)"
            )
        from torchvision.datasets import imagenet as tv

        unpack = tv.parse_val_archive if split == "val" else tv.parse_train_archive
        try:
            unpack(str(root))
        except (RuntimeError, OSError) as err:
            raise DataError(f"imagenet: {root / ARCHIVES[split]}: {err}") from None
    label = {wnid: index for index, wnid in enumerate(wnids)}
    samples: list[tuple[Path, int]] = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if not entry.is_dir():
            continue
        if entry.name not in label:
            raise DataError(
                f"imagenet: {folder / entry.name}: not a WordNet id of the devkit "
                f"({len(wnids)} classes in {root / META_FILE})"
            )
        with refusals_as_data_errors():
            images = walk_files(folder / entry.name, IMAGE_EXTENSIONS, within=root)
            samples += [(path, label[entry.name]) for path in images]
    if not samples:
        raise DataError(f"imagenet: {folder} holds no image ({folder}/<wnid>/<image>)")
    return samples


def load_imagenet(
    *,
    data_dir: str | Path | None = None,
    input_size: int | None = None,
    preset: EvalPreset | None = None,
) -> Dataset:
    """ILSVRC-2012: its validation images are the test split, read as the devkit labels them.

    Args:
        data_dir: the folder of ``meta.bin`` (or the devkit archive) and ``val/`` (or its archive),
            optionally ``train/``.
        input_size: the crop of the standard preset (default 224), when no ``preset`` is given.
        preset: the test-time preprocessing of the weights to evaluate.

    Returns:
        A dataset of 1000 classes named by the devkit's first name of each class; its training
        split is ``train/`` when present, else empty.

    Raises:
        DataError: no ``data_dir``, or missing or malformed devkit, folders or images.
    """
    if data_dir is None:
        raise DataError(
            "imagenet: no data directory given; pass --data-dir D with D/meta.bin (or "
            f"D/{DEVKIT}) and D/val/<wnid>/<image> (or D/{ARCHIVES['val']})"
        )
    root = Path(data_dir)
    preset = preset or EvalPreset.fraction(input_size or DEFAULT_SIZE)
    wnids, names = read_meta(root)
    transform = preset.transform()
    test = ImageFiles(wnids, split_images(root, "val", wnids), transform, root)
    train_samples = split_images(root, "train", wnids) if (root / "train").is_dir() else []
    augment = imagefolder_transform(preset.crop, train=True, mean=preset.mean, std=preset.std)
    train = ImageFiles(wnids, train_samples, augment, root)
    info = DatasetInfo(
        name="imagenet",
        num_classes=len(wnids),
        in_chans=3,
        image_size=preset.crop,
        class_names=tuple(names[w][0] for w in wnids),
        mean=preset.mean,
        std=preset.std,
    )
    return Dataset(info, train, test)
