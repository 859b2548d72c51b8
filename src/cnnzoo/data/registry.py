"""The name -> factory table of datasets and :func:`load_dataset`.

Every factory takes ``data_dir`` and ``input_size`` as keywords and returns a
:class:`~cnnzoo.data.base.Dataset`; :func:`load_dataset` looks the name up and applies ``subset``
to the training split.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch.utils.data

from cnnzoo.data.base import DataError, Dataset, Split
from cnnzoo.data.cifar import CIFAR10, CIFAR100, load_cifar
from cnnzoo.data.imagefolder import EvalPreset, load_imagefolder, subset_indices
from cnnzoo.data.imagenet import load_imagenet
from cnnzoo.data.mnist import IDX_LAYOUTS, load_idx_dataset, load_mnist5k

DEFAULT_DATASET = "fashion-mnist"

DATASETS: dict[str, Callable[..., Dataset]] = {
    **{layout.name: partial(load_idx_dataset, layout) for layout in IDX_LAYOUTS},
    "mnist-5k": load_mnist5k,
    "cifar10": partial(load_cifar, CIFAR10),
    "cifar100": partial(load_cifar, CIFAR100),
    "imagefolder": load_imagefolder,
    "imagenet": load_imagenet,
}
# the datasets of image files, whose test split takes a weights' evaluation preset
PRESET_DATASETS = ("imagefolder", "imagenet")


def take_subset(split: Split | torch.utils.data.Dataset, n: int):
    """The first ``n`` samples of an in-memory split; ``n`` evenly spaced ones of a folder."""
    if isinstance(split, Split):
        return split.head(n)
    return torch.utils.data.Subset(split, subset_indices(len(split), n).tolist())


def load_dataset(
    name: str = DEFAULT_DATASET,
    *,
    data_dir: str | Path | None = None,
    subset: int | None = None,
    input_size: int | None = None,
    preset: EvalPreset | None = None,
) -> Dataset:
    """Load a dataset by name.

    Args:
        name: a key of :data:`DATASETS` (``fashion-mnist``, ``mnist``, ``kmnist``,
            ``emnist-<split>``, ``mnist-5k``, ``cifar10``, ``cifar100``, ``imagefolder``,
            ``imagenet``).
        data_dir: where its files are (``fashion-mnist`` defaults to
            ``/usr/share/datasets/fashion-mnist``, ``mnist-5k`` needs none).
        subset: keep the first ``subset`` training images (for ``imagefolder``: that many evenly
            spaced ones, since its images are sorted by class); the test split stays whole, so
            accuracies of runs on different subsets compare. Deterministic.
        input_size: the crop size of the ``imagefolder`` presets; in-memory sets ignore it (the
            batch stream resizes).
        preset: the test-time preprocessing of the image-file datasets (``imagefolder``,
            ``imagenet``) when it is not their standard one (published weights record theirs).

    Returns:
        The dataset.

    Raises:
        DataError: an unknown name (the message lists the names) or missing or malformed files
            (the message names the file and the problem).
    """
    try:
        factory = DATASETS[name]
    except KeyError:
        close = difflib.get_close_matches(name, DATASETS, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise DataError(
            f"unknown dataset {name!r}{hint}; known datasets: {', '.join(DATASETS)}"
        ) from None
    if subset is not None and subset < 1:
        raise DataError(f"subset must be >= 1, got {subset}")
    options = {"preset": preset} if preset is not None and name in PRESET_DATASETS else {}
    dataset = factory(data_dir=data_dir, input_size=input_size, **options)
    if subset is None:
        return dataset
    return Dataset(dataset.info, take_subset(dataset.train, subset), dataset.test)
