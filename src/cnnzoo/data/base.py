"""The records every dataset returns, the error every bad file raises, and the checks they share.

A dataset is a :class:`DatasetInfo` (what a model and a report need to know) and two splits. Small
datasets hold a :class:`Split` in memory (``uint8`` images, ``int64`` labels) that
:class:`~cnnzoo.data.stream.BatchStream` augments in batches; large ones are a torch ``Dataset``
read by a ``DataLoader``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.utils.data

from cnnzoo.reading import UnsafeInput


class DataError(UnsafeInput):
    """A dataset file is missing or malformed; the message names the file and the problem."""


@contextlib.contextmanager
def refusals_as_data_errors() -> Iterator[None]:
    """Re-raise a file refused by :mod:`cnnzoo.reading` as a :class:`DataError`, same message."""
    try:
        yield
    except DataError:
        raise
    except UnsafeInput as err:
        raise DataError(str(err)) from None


@dataclass(frozen=True)
class DatasetInfo:
    """What a model, a training run and a report need to know about a dataset.

    ``image_size`` is the native side (28 for the MNIST family, 32 for CIFAR); for ``imagefolder``
    it is the crop size. ``mean`` and ``std`` are per channel, in [0, 1] units.
    """

    name: str
    num_classes: int
    in_chans: int
    image_size: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class Split:
    """One split held in memory: ``uint8`` images N x C x H x W and ``int64`` labels N."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"Split images must be uint8 N x C x H x W, got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise ValueError(
                f"Split labels must be int64 of shape ({len(self.images)},), got "
                f"{self.labels.dtype} {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int) -> Split:
        """The first ``n`` samples (all of them if ``n`` is larger)."""
        return Split(self.images[:n], self.labels[:n])


@dataclass(frozen=True)
class Dataset:
    """A dataset: its :class:`DatasetInfo` and its train and test splits.

    A split is a :class:`Split` for in-memory sets, or a torch ``Dataset`` returning
    ``(normalised float image C x H x W, int label)`` for ``imagefolder``.
    """

    info: DatasetInfo
    train: Split | torch.utils.data.Dataset
    test: Split | torch.utils.data.Dataset


def find_files(
    dataset: str, dirs: Sequence[Path], names: Sequence[str], *, gzip_ok: bool = True
) -> list[Path]:
    """Locate each of ``names`` (or ``name.gz``) in the first directory of ``dirs`` holding all.

    Args:
        dataset: the dataset's name, used in the message.
        dirs: directories to look in, in order.
        names: the file names expected.
        gzip_ok: also accept ``name.gz`` for each name.

    Returns:
        The paths, in the order of ``names``.

    Raises:
        DataError: no directory holds all the files; the message lists what was expected, where,
            and which files each directory lacks.
    """
    lacking: list[str] = []
    for folder in dirs:
        found, missing = [], []
        for name in names:
            candidates = [folder / name, folder / f"{name}.gz"] if gzip_ok else [folder / name]
            hit = next((p for p in candidates if p.is_file()), None)
            (found if hit else missing).append(hit or name)
        if not missing:
            return found
        if folder.is_dir():
            lacking.append(f"  {folder}: lacks {', '.join(missing)}")
        else:
            lacking.append(f"  {folder}: no such directory")
    suffix = " (each may also be gzipped, name + '.gz')" if gzip_ok else ""
    raise DataError(
        f"{dataset}: dataset files not found. Expected {', '.join(names)}{suffix} in one of:\n"
        + "\n".join(lacking)
    )


def check_labels(path: Path, labels: torch.Tensor, num_classes: int) -> None:
    """Raise :class:`DataError` naming ``path`` if a label is outside ``0 .. num_classes-1``."""
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise DataError(
            f"{path}: labels range from {int(labels.min())} to {int(labels.max())}, "
            f"expected 0 to {num_classes - 1} ({num_classes} classes)"
        )


def unnormalise(x: torch.Tensor, mean, std) -> torch.Tensor:
    """Images normalised with per-channel ``mean`` and ``std`` (``C x H x W`` or a batch) back to
    float ``[0, 1]``, on the CPU, for display."""
    mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return (x.float().cpu() * std + mean).clamp(0, 1)


def channel_stats(images: torch.Tensor, *, chunk: int = 8192) -> tuple[tuple[float, ...], ...]:
    """Per-channel mean and standard deviation of ``uint8`` images N x C x H x W, in [0, 1] units.

    Summed in float64 over chunks of images, so memory stays small and the result is exact to the
    four decimals it is rounded to.

    Returns:
        ``(mean, std)``, each a tuple with one value per channel.
    """
    chans = images.shape[1]
    total = torch.zeros(chans, dtype=torch.float64)
    squares = torch.zeros(chans, dtype=torch.float64)
    for part in images.split(chunk):
        values = part.transpose(0, 1).reshape(chans, -1).to(torch.float64)
        total += values.sum(1)
        squares += values.square().sum(1)
    count = images.numel() // chans
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    return tuple(round(v / 255, 4) for v in mean.tolist()), tuple(
        round(v / 255, 4) for v in std.tolist()
    )
