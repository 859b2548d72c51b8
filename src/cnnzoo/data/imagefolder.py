"""ImageNet-style image folders: ``train/`` and ``val/`` trees of class folders (JPEG, PNG ...).

Laid out as torchvision's ``ImageFolder`` expects: the class of an image is the name of the folder
under ``train/`` (or ``val/``) that holds it, classes numbered in sorted order. The folders are
walked and the images read through :mod:`cnnzoo.reading`: links are followed only inside
``data_dir`` and into each folder once (``ImageFolder`` follows a link to ``.`` forever), and
16-bit or float images are converted faithfully rather than clipped. The presets are the usual
ImageNet ones, scaled to the model's input size S (torchvision's reference recipe):

- train: ``RandomResizedCrop(S)`` (scale 0.08-1, aspect 3/4-4/3; Szegedy et al. 2015, Sec. 6) and a
  horizontal flip;
- eval: ``Resize(int(S / 0.875))`` of the shorter side, then ``CenterCrop(S)`` (256 -> 224);
- both: ImageNet's per-channel mean and std.

The tree is checked before anything is decoded: a missing ``train/`` or ``val/``, no class folders,
an empty class folder, a class folder not named in UTF-8, or ``val/`` classes that differ from
``train/`` raise :class:`DataError`. Images themselves are decoded in the loader's workers; one that
cannot be read stops the run with one line naming it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from cnnzoo.data.base import DataError, Dataset, DatasetInfo, refusals_as_data_errors
from cnnzoo.reading import read_image, walk_files

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet statistics
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_SIZE = 224  # the ImageNet crop of most of the zoo's papers
EVAL_CROP_FRACTION = 0.875  # 224 / 256: resize to S / 0.875, then crop S
# torchvision.datasets.folder.IMG_EXTENSIONS, repeated so the check needs no torchvision import.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class EvalPreset:
    """Test-time preprocessing: resize the shorter side to ``resize``, crop ``crop`` x ``crop`` at
    the centre, scale to [0, 1], normalise with ``mean`` and ``std``.

    Args:
        crop: the side of the network's input.
        resize: the shorter side before cropping.
        interpolation: ``bilinear`` or ``bicubic``.
        mean: per-channel mean.
        std: per-channel standard deviation.
    """

    crop: int
    resize: int
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    @classmethod
    def fraction(cls, crop: int, crop_fraction: float = EVAL_CROP_FRACTION, **kwargs) -> EvalPreset:
        """The preset that crops ``crop_fraction`` of the resized side (224 of 256 for 0.875)."""
        return cls(crop, math.floor(crop / crop_fraction), **kwargs)

    def transform(self):
        """PIL image -> normalised float tensor ``3 x crop x crop``."""
        from torchvision import transforms

        mode = transforms.InterpolationMode(self.interpolation)
        return transforms.Compose(
            [
                transforms.Resize(self.resize, interpolation=mode),
                transforms.CenterCrop(self.crop),
                transforms.ToTensor(),
                transforms.Normalize(self.mean, self.std),
            ]
        )

    def record(self) -> dict:
        """The preset as plain data (kept in a dataset record)."""
        return {
            "image_size": self.crop,
            "input_size": self.crop,
            "resize": self.resize,
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
        }


def imagefolder_transform(size: int, *, train: bool, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """The preset for crop size ``size``: PIL image -> normalised float tensor 3 x size x size."""
    if not train:
        return EvalPreset.fraction(size, mean=tuple(mean), std=tuple(std)).transform()
    from torchvision import transforms  # imported here: torchvision takes seconds to import

    augment = [transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip()]
    return transforms.Compose([*augment, transforms.ToTensor(), transforms.Normalize(mean, std)])


def list_images(root: Path, within: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """The class folders under ``root`` (sorted) and their images, each with its class index.

    The images of a class are those :func:`~cnnzoo.reading.walk_files` finds in its folder: links
    followed inside ``within``, each folder entered once (a link to ``.`` adds nothing).

    Raises:
        DataError: ``root`` missing, no class folders, a class folder not named in UTF-8, an empty
            class folder, or a link that resolves outside ``within``.
    """
    if not root.is_dir():
        raise DataError(f"{root}: no such directory")
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    if not classes:
        raise DataError(f"{root}: holds no class folders (expected {root}/<class>/<image>)")
    samples: list[tuple[Path, int]] = []
    for index, name in enumerate(classes):
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:  # os.scandir gives undecodable bytes as lone surrogates
            raise DataError(
                f"{root}: the class folder {os.fsencode(name)!r} is not named in UTF-8; rename it"
            ) from None
        with refusals_as_data_errors():
            images = list(walk_files(root / name, IMAGE_EXTENSIONS, within=within))
        if not images:
            raise DataError(
                f"{root / name}: empty class folder, holds no image ({', '.join(IMAGE_EXTENSIONS)})"
            )
        samples += [(path, index) for path in images]
    return classes, samples


class ImageFiles(torch.utils.data.Dataset):
    """Image files of classes: item ``i`` is ``(transform(RGB image), class index)``.

    Images are read with :func:`~cnnzoo.reading.read_image` (faithful conversion; a file that
    cannot be read is a one-line :class:`DataError` naming it, also from a loader's worker).

    Args:
        classes: the class names, in index order.
        samples: ``(path, class index)`` of each image.
        transform: PIL image -> tensor.
        within: the folder every image must resolve into.
    """

    def __init__(
        self,
        classes: list[str],
        samples: list[tuple[Path, int]],
        transform: Callable,
        within: Path,
    ) -> None:
        self.classes = classes
        self.samples = samples
        self.targets = [label for _, label in samples]
        self.transform = transform
        self.within = within

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        with refusals_as_data_errors():
            image = read_image(path, "RGB", within=self.within)
        return self.transform(image), label


def load_imagefolder(
    *, data_dir: str | Path | None = None, input_size: int | None = None, preset=None
) -> Dataset:
    """An image-folder dataset: ``data_dir/train/<class>/*`` and ``data_dir/val/<class>/*``.

    Args:
        data_dir: the directory holding ``train/`` and ``val/``.
        input_size: the crop size S of the presets (default 224).
        preset: the validation split's :class:`~cnnzoo.data.imagenet.EvalPreset` instead of the
            standard one (published weights record their own).

    Returns:
        A dataset whose splits are :class:`ImageFiles` returning
        ``(normalised float tensor 3 x S x S, label)``.

    Raises:
        DataError: no ``data_dir``, a missing split, no or an empty class folder, a class folder
            not named in UTF-8, a link that resolves outside ``data_dir``, or class folders that
            differ between ``train/`` and ``val/``.
    """
    if data_dir is None:
        raise DataError(
            "imagefolder: no data directory given; pass --data-dir D with D/train/<class>/<image> "
            "and D/val/<class>/<image>"
        )
    root = Path(data_dir)
    size = input_size or DEFAULT_SIZE
    classes, train_samples = list_images(root / "train", root)
    val_classes, val_samples = list_images(root / "val", root)
    if val_classes != classes:
        only_train = sorted(set(classes) - set(val_classes))
        only_val = sorted(set(val_classes) - set(classes))
        raise DataError(
            f"{root / 'val'}: class folders differ from {root / 'train'} "
            f"(only in train: {only_train[:5] or 'none'}, only in val: {only_val[:5] or 'none'})"
        )
    train = ImageFiles(classes, train_samples, imagefolder_transform(size, train=True), root)
    evaluation = preset.transform() if preset else imagefolder_transform(size, train=False)
    val = ImageFiles(classes, val_samples, evaluation, root)
    info = DatasetInfo(
        name="imagefolder",
        num_classes=len(classes),
        in_chans=3,
        image_size=preset.crop if preset else size,
        class_names=tuple(classes),
        mean=preset.mean if preset else IMAGENET_MEAN,
        std=preset.std if preset else IMAGENET_STD,
    )
    return Dataset(info, train, val)


def convert_image(image, mode: str):
    """``image.convert(mode)`` as a picklable callable (for DataLoader workers)."""
    return image.convert(mode)


def image_mode(info: DatasetInfo) -> str:
    """The Pillow mode of the images a model of ``info`` takes: ``"L"`` (grey) or ``"RGB"``."""
    return "L" if info.in_chans == 1 else "RGB"


def image_transform(info: DatasetInfo, *, input_size: int | None = None) -> Callable:
    """PIL image -> normalised float tensor ``C x S x S`` as the model of ``info`` was fed at test.

    For ``imagefolder`` the eval preset; for in-memory sets the image is converted to the
    dataset's channels (grey or RGB), resized to the native side and, if ``input_size`` differs,
    resized again as the batch stream does. Used by ``predict`` on single image files.
    """
    from torchvision import transforms

    size = input_size or info.image_size
    if info.name == "imagefolder":
        return imagefolder_transform(size, train=False, mean=info.mean, std=info.std)
    mode = image_mode(info)
    steps = [
        transforms.Lambda(partial(convert_image, mode=mode)),
        transforms.Resize((info.image_size, info.image_size)),
        transforms.ToTensor(),
        transforms.Normalize(info.mean, info.std),
    ]
    if size != info.image_size:
        steps.append(transforms.Resize((size, size), antialias=True))
    return transforms.Compose(steps)


def subset_indices(length: int, n: int) -> torch.Tensor:
    """``n`` evenly spaced indices of ``range(length)`` (all if ``n >= length``).

    ``ImageFolder`` lists images sorted by class, so its first ``n`` would hold few classes.
    """
    n = min(n, length)
    return torch.arange(n, dtype=torch.int64) * length // max(n, 1)
