"""Datasets of the zoo: a name -> factory table, in-memory batch streams and loaders.

``load_dataset(name)`` returns a :class:`Dataset` (its :class:`DatasetInfo` and two splits).
Small sets (the MNIST family, CIFAR) are held in memory as ``uint8`` tensors and fed by
:class:`BatchStream`, which augments whole batches on the training device; ``imagefolder`` is a
torch ``Dataset`` fed by :func:`make_loader` (or :class:`LoaderStream`). Bad files raise
:class:`DataError` naming the file and the problem.
"""

from cnnzoo.data.base import DataError, Dataset, DatasetInfo, Split, channel_stats
from cnnzoo.data.idx import read_idx, write_idx
from cnnzoo.data.imagefolder import image_transform, imagefolder_transform
from cnnzoo.data.loader import LoaderStream, ShardSampler, make_loader
from cnnzoo.data.registry import DATASETS, DEFAULT_DATASET, load_dataset
from cnnzoo.data.stream import DEFAULT_AUGMENT, Augment, BatchStream

__all__ = [
    "DATASETS",
    "DEFAULT_AUGMENT",
    "DEFAULT_DATASET",
    "Augment",
    "BatchStream",
    "DataError",
    "Dataset",
    "DatasetInfo",
    "LoaderStream",
    "ShardSampler",
    "Split",
    "channel_stats",
    "image_transform",
    "imagefolder_transform",
    "load_dataset",
    "make_loader",
    "read_idx",
    "write_idx",
]
