"""CIFAR-10 and CIFAR-100 from the standard python-pickle batches.

Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny Images"; the files are those of
https://www.cs.toronto.edu/~kriz/cifar.html, unpacked: ``cifar-10-batches-py/`` (``data_batch_1``
.. ``data_batch_5``, ``test_batch``, ``batches.meta``) and ``cifar-100-python/`` (``train``,
``test``, ``meta``). Each batch is a pickled dict whose ``data`` is an N x 3072 ``uint8`` array
(the red, green and blue 32 x 32 planes, rows in order) with a list of labels.

The files are user files, so they are read with :class:`RestrictedUnpickler`, which builds plain
containers and numpy arrays only: a pickle that names any other global (``os.system``,
``builtins.eval`` ...) is refused with a :class:`DataError` instead of being run.
"""

from __future__ import annotations

import codecs
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnzoo.data.base import DataError, Dataset, DatasetInfo, Split, check_labels, find_files

SIDE = 32  # CIFAR images are 32 x 32 RGB
PIXELS = 3 * SIDE * SIDE

# The numpy callables an array pickle needs, found from numpy's own reductions (so the allow-list
# holds the right objects whatever numpy calls its private modules), under every module name
# numpy has pickled them with: numpy.core (1.x, and Python 2 pickles such as CIFAR's) and
# numpy._core (2.x).
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
_SCALAR = np.float64(0).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    **{
        (f"{core}.{module}", name): obj
        for core in ("numpy.core", "numpy._core")
        for module, name, obj in (
            ("multiarray", "_reconstruct", _RECONSTRUCT),
            ("multiarray", "scalar", _SCALAR),
            ("numeric", "_frombuffer", _FROMBUFFER),
        )
    },
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Python 3 pickles bytes at protocol 2 as _codecs.encode(text, "latin1"): a pure conversion.
    ("_codecs", "encode"): codecs.encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain containers, strings, numbers and numpy arrays."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused to load the global {module}.{name} (only numpy arrays and plain data "
                "are allowed in a dataset file)"
            ) from None


def read_pickle(path: Path) -> dict[str, Any]:
    """A pickled dict read with :class:`RestrictedUnpickler`, ``bytes`` keys decoded to ``str``.

    Raises:
        DataError: missing, truncated or not a pickle, a refused global, or not a dict.
    """
    try:
        with open(path, "rb") as f:
            # latin1: the CIFAR files were pickled by Python 2; numpy restores arrays from it.
            obj = RestrictedUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise DataError(f"{path}: not a readable pickle, truncated or corrupt? ({err})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: holds a {type(obj).__name__}, expected a dict")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


@dataclass(frozen=True)
class CifarLayout:
    """How one CIFAR variant is named and stored.

    Attributes:
        name: the dataset's name in :data:`~cnnzoo.data.DATASETS`.
        folder: the folder the archive unpacks to.
        archive: the archive's file name (mentioned when it is found still packed).
        train_files, test_file, meta_file: the pickles.
        label_key: the labels' key in a batch.
        names_key: the class names' key in the meta file.
        num_classes: the number of classes.
        mean, std: over the training split, per channel (computed with ``channel_stats``).
    """

    name: str
    folder: str
    archive: str
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: str
    names_key: str
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


CIFAR10 = CifarLayout(
    name="cifar10",
    folder="cifar-10-batches-py",
    archive="cifar-10-python.tar.gz",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),  # 5 batches of 10,000
    test_file="test_batch",
    meta_file="batches.meta",
    label_key="labels",
    names_key="label_names",
    num_classes=10,
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
)
CIFAR100 = CifarLayout(
    name="cifar100",
    folder="cifar-100-python",
    archive="cifar-100-python.tar.gz",
    train_files=("train",),
    test_file="test",
    meta_file="meta",
    label_key="fine_labels",  # the 100 classes; the 20 superclasses ("coarse_labels") are unused
    names_key="fine_label_names",
    num_classes=100,
    mean=(0.5071, 0.4865, 0.4409),
    std=(0.2673, 0.2564, 0.2762),
)


def read_batch(path: Path, label_key: str, num_classes: int) -> Split:
    """One CIFAR batch as a :class:`Split` of N x 3 x 32 x 32 images.

    Raises:
        DataError: missing keys, ``data`` not an N x 3072 ``uint8`` array, a label count that
            disagrees with the image count, or labels out of range.
    """
    batch = read_pickle(path)
    missing = [key for key in ("data", label_key) if key not in batch]
    if missing:
        raise DataError(
            f"{path}: not a CIFAR batch: lacks the key(s) {', '.join(map(repr, missing))} "
            f"(has {', '.join(map(repr, sorted(map(str, batch))))})"
        )
    data = batch["data"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or (data.shape[1] != PIXELS)
    ):
        shape = getattr(data, "shape", None)
        dtype = getattr(data, "dtype", type(data).__name__)
        raise DataError(
            f"{path}: 'data' is {dtype} of shape {shape}, expected uint8 of shape (N, {PIXELS}) "
            f"(3 planes of {SIDE} x {SIDE})"
        )
    try:
        labels = torch.as_tensor(np.asarray(batch[label_key], dtype=np.int64))
    except (TypeError, ValueError) as err:
        raise DataError(f"{path}: {label_key!r} is not a list of integers ({err})") from None
    if labels.shape != (len(data),):
        raise DataError(
            f"{path}: {len(data):,} images but {label_key!r} holds {labels.numel():,} labels; "
            "the counts must agree"
        )
    check_labels(path, labels, num_classes)
    images = torch.from_numpy(data.reshape(-1, 3, SIDE, SIDE).copy())
    return Split(images, labels)


def read_class_names(path: Path, key: str, num_classes: int) -> tuple[str, ...]:
    """The class names stored under ``key`` in the meta file ``path``."""
    meta = read_pickle(path)
    names = meta.get(key)
    if not isinstance(names, list | tuple) or len(names) != num_classes:
        count = len(names) if isinstance(names, list | tuple) else "no"
        raise DataError(f"{path}: {key!r} holds {count} class names, expected {num_classes}")
    return tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)


def load_cifar(
    layout: CifarLayout, *, data_dir: str | Path | None = None, input_size: int | None = None
) -> Dataset:
    """Load CIFAR-10 or CIFAR-100 from ``data_dir/<folder>`` (or ``data_dir`` itself).

    Args:
        layout: :data:`CIFAR10` or :data:`CIFAR100`.
        data_dir: the directory holding the unpacked folder.
        input_size: unused (in-memory sets are resized in the batch stream).

    Raises:
        DataError: no ``data_dir``, missing files (a still packed archive is pointed out), or a
            batch with wrong keys or shapes.
    """
    del input_size
    if data_dir is None:
        raise DataError(
            f"{layout.name}: no data directory given; pass --data-dir D with the unpacked "
            f"{layout.archive} in D/{layout.folder}"
        )
    data_dir = Path(data_dir)
    names = [*layout.train_files, layout.test_file, layout.meta_file]
    try:
        paths = find_files(layout.name, [data_dir / layout.folder, data_dir], names, gzip_ok=False)
    except DataError as err:
        if (data_dir / layout.archive).is_file():
            raise DataError(
                f"{err}\n  {data_dir / layout.archive} is still packed: unpack it with "
                f"`tar -xzf {layout.archive}` in {data_dir}"
            ) from None
        raise
    parts = [read_batch(p, layout.label_key, layout.num_classes) for p in paths[:-2]]
    train = Split(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]))
    test = read_batch(paths[-2], layout.label_key, layout.num_classes)
    class_names = read_class_names(paths[-1], layout.names_key, layout.num_classes)
    info = DatasetInfo(
        name=layout.name,
        num_classes=layout.num_classes,
        in_chans=3,
        image_size=SIDE,
        class_names=class_names,
        mean=layout.mean,
        std=layout.std,
    )
    return Dataset(info, train, test)
