"""CIFAR-10 and CIFAR-100 from the standard python-pickle batches.

Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny Images"; the files are those of
https://www.cs.toronto.edu/~kriz/cifar.html, unpacked: ``cifar-10-batches-py/`` (``data_batch_1``
.. ``data_batch_5``, ``test_batch``, ``batches.meta``) and ``cifar-100-python/`` (``train``,
``test``, ``meta``). Each batch is a pickled dict whose ``data`` is an N x 3072 ``uint8`` array
(the red, green and blue 32 x 32 planes, rows in order) with a list of labels.

The files are user files, so they are read with :class:`RestrictedUnpickler`, which builds plain
containers and numpy arrays of numbers only: a pickle that names any other global (``os.system``,
``builtins.eval`` ...) is refused with a :class:`DataError` instead of being run. Memory is bounded
by the file's size: the arrays of a pickle together may take no more bytes than the pickle itself
(an honest pickle holds its arrays' bytes), a counted string must fit in the bytes that follow it,
and the labels and class names must be flat lists of numbers and strings (a pickle can nest one
list in another many times over, at a few bytes each).
"""

from __future__ import annotations

import codecs
import io
import math
import pickle
import pickletools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from cnnzoo.data.base import (
    DataError,
    Dataset,
    DatasetInfo,
    Split,
    check_labels,
    find_files,
    refusals_as_data_errors,
)
from cnnzoo.reading import open_regular

SIDE = 32  # CIFAR images are 32 x 32 RGB
PIXELS = 3 * SIDE * SIDE

NUMBER_KINDS = "biufc"  # the numpy dtype kinds an array of a dataset file may have
LATIN1 = codecs.lookup("latin1").name

# The numpy callables an array pickle needs, found from numpy's own reductions (so the allow-list
# holds the right objects whatever numpy calls its private modules).
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
_SCALAR = np.float64(0).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]


class TooLarge(pickle.UnpicklingError):
    """A pickle whose arrays would take more memory than the pickle's own size."""


class Budget:
    """The bytes the arrays of one pickle may still take: at first the pickle's size, since an
    honest pickle holds its arrays' bytes."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.left = size

    def charge(self, nbytes: int) -> None:
        """Take ``nbytes`` from the budget, or raise :class:`TooLarge`."""
        if nbytes > self.left:
            raise TooLarge(
                f"its arrays would take more than its own {self.size:,} bytes (one "
                f"asks for {nbytes:,}): refused"
            )
        self.left -= nbytes


def number_dtype(spec: Any) -> np.dtype:
    """``np.dtype(spec)``, refused unless of numbers (no objects, strings or raw records)."""
    dtype = spec if isinstance(spec, np.dtype) else np.dtype(spec)
    if dtype.kind not in NUMBER_KINDS or dtype.fields is not None:
        raise pickle.UnpicklingError(
            f"refused an array of {dtype} (only arrays of numbers are allowed in a dataset file)"
        )
    return dtype


def nbytes_of(shape: Any, dtype: Any) -> int:
    """The bytes of an array of ``shape`` and ``dtype``, both checked."""
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape):
        raise pickle.UnpicklingError(f"refused an array of shape {type(shape).__name__}")
    return math.prod(shape) * number_dtype(dtype).itemsize


class PickledArray(np.ndarray):
    """An array as the unpickler builds it: the data its state brings is charged to ``budget``
    before numpy takes it (numpy copies a small or byte-swapped state; a shared one, once per
    array)."""

    budget: Budget

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("refused an array state that is not numpy's")
        self.budget.charge(nbytes_of(state[-4], state[-3]))
        super().__setstate__(state)


def array_type(*args: Any) -> None:
    """What ``numpy.ndarray`` means in a dataset file: the type of an array to rebuild, never a
    call (``ndarray(shape)`` would allocate any size)."""
    raise pickle.UnpicklingError("refused to call numpy.ndarray (arrays are rebuilt, not made)")


def allowed_globals(budget: Budget) -> dict[tuple[str, str], Any]:
    """The globals a dataset pickle may name, each bounded by ``budget``, under every module name
    numpy has pickled them with: numpy.core (1.x, and Python 2 pickles such as CIFAR's) and
    numpy._core (2.x)."""

    def reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        if subtype is not array_type:
            raise pickle.UnpicklingError("refused to rebuild an array of a type other than ndarray")
        budget.charge(nbytes_of(shape, dtype))
        array = _RECONSTRUCT(PickledArray, shape, number_dtype(dtype))
        array.budget = budget
        return array

    def scalar(dtype: Any, *data: Any) -> Any:
        budget.charge(number_dtype(dtype).itemsize)
        return _SCALAR(dtype, *data)

    def frombuffer(buffer: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
        budget.charge(nbytes_of(shape, dtype))
        return _FROMBUFFER(buffer, dtype, shape, order)

    def dtype(*args: Any) -> np.dtype:
        return number_dtype(np.dtype(*args))

    def encode(text: Any, encoding: str = "utf-8") -> bytes:
        # Python 3 pickles bytes at protocol 2 as _codecs.encode(text, "latin1"): a pure
        # conversion of the same length (another codec could grow the data, hex twice per call).
        if codecs.lookup(encoding).name != LATIN1 or not isinstance(text, str):
            raise pickle.UnpicklingError(f"refused to encode to {encoding!r} (only latin1)")
        return codecs.encode(text, encoding)

    return {
        **{
            (f"{core}.{module}", name): obj
            for core in ("numpy.core", "numpy._core")
            for module, name, obj in (
                ("multiarray", "_reconstruct", reconstruct),
                ("multiarray", "scalar", scalar),
                ("numeric", "_frombuffer", frombuffer),
            )
        },
        ("numpy", "ndarray"): array_type,
        ("numpy", "dtype"): dtype,
        ("_codecs", "encode"): encode,
    }


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain containers, strings, numbers and numpy arrays of
    numbers, the arrays together no larger than the pickle (``size`` bytes)."""

    def __init__(self, file: BinaryIO, *, size: int) -> None:
        # latin1: the CIFAR files were pickled by Python 2; numpy restores arrays from it.
        super().__init__(file, encoding="latin1")
        self.allowed = allowed_globals(Budget(size))

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused to load the global {module}.{name} (only numpy arrays and plain data "
                "are allowed in a dataset file)"
            ) from None


def check_lengths(raw: bytes) -> None:
    """Walk the opcodes of the pickle ``raw`` without building anything: a counted string or
    bytes longer than what follows it raises ``ValueError`` here, where the unpickler would first
    allocate the length it claims."""
    for _ in pickletools.genops(raw):
        pass


def read_pickle(path: Path, within: Path | None = None) -> dict[str, Any]:
    """A pickled dict read with :class:`RestrictedUnpickler`, ``bytes`` keys decoded to ``str``,
    array values as plain ``np.ndarray``.

    Raises:
        DataError: missing or not a regular file (or outside ``within``), truncated or not a
            pickle, a refused global, arrays larger than the file, or not a dict.
    """
    with refusals_as_data_errors(), open_regular(path, within=within) as f:
        raw = f.read()
    try:
        check_lengths(raw)
        obj = RestrictedUnpickler(io.BytesIO(raw), size=len(raw)).load()
    except TooLarge as err:
        raise DataError(f"{path}: {err}") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        OverflowError,
    ) as err:
        raise DataError(f"{path}: not a readable pickle, truncated or corrupt? ({err})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: holds a {type(obj).__name__}, expected a dict")
    return {
        (k.decode("latin1") if isinstance(k, bytes) else k): (
            np.asarray(v) if isinstance(v, np.ndarray) else v
        )
        for k, v in obj.items()
    }


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


def key_names(mapping: dict) -> list[str]:
    """The keys of ``mapping`` for a message: strings quoted, other keys by their type."""
    return [repr(k) if isinstance(k, str) else f"a {type(k).__name__}" for k in mapping]


def read_labels(path: Path, values: Any, key: str) -> torch.Tensor:
    """A batch's labels, a flat list of integers (or a 1-D integer array), as ``int64``."""
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "iu":
        values = values.tolist()
    if not isinstance(values, list | tuple) or not all(type(v) is int for v in values):
        raise DataError(f"{path}: {key!r} is not a list of integers")
    try:
        return torch.tensor(values, dtype=torch.int64)
    except (OverflowError, RuntimeError):
        raise DataError(f"{path}: {key!r} holds integers beyond 64 bits") from None


def read_batch(path: Path, label_key: str, num_classes: int, within: Path) -> Split:
    """One CIFAR batch as a :class:`Split` of N x 3 x 32 x 32 images.

    Raises:
        DataError: missing keys, ``data`` not an N x 3072 ``uint8`` array, a label count that
            disagrees with the image count, or labels out of range.
    """
    batch = read_pickle(path, within)
    missing = [key for key in ("data", label_key) if key not in batch]
    if missing:
        raise DataError(
            f"{path}: not a CIFAR batch: lacks the key(s) {', '.join(map(repr, missing))} "
            f"(has {', '.join(sorted(key_names(batch)))})"
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
    labels = read_labels(path, batch[label_key], label_key)
    if labels.shape != (len(data),):
        raise DataError(
            f"{path}: {len(data):,} images but {label_key!r} holds {labels.numel():,} labels; "
            "the counts must agree"
        )
    check_labels(path, labels, num_classes)
    images = torch.from_numpy(data.reshape(-1, 3, SIDE, SIDE).copy())
    return Split(images, labels)


def read_class_names(path: Path, key: str, num_classes: int, within: Path) -> tuple[str, ...]:
    """The class names stored under ``key`` in the meta file ``path``: strings or bytes."""
    meta = read_pickle(path, within)
    names = meta.get(key)
    if not isinstance(names, list | tuple) or len(names) != num_classes:
        count = len(names) if isinstance(names, list | tuple) else "no"
        raise DataError(f"{path}: {key!r} holds {count} class names, expected {num_classes}")
    if not all(isinstance(n, str | bytes) for n in names):
        raise DataError(f"{path}: {key!r} holds class names that are not strings")
    return tuple(n.decode("latin1") if isinstance(n, bytes) else n for n in names)


def load_cifar(
    layout: CifarLayout, *, data_dir: str | Path | None = None, input_size: int | None = None
) -> Dataset:
    """Load CIFAR-10 or CIFAR-100 from ``data_dir/<folder>`` (or ``data_dir`` itself).

    Args:
        layout: :data:`CIFAR10` or :data:`CIFAR100`.
        data_dir: the directory holding the unpacked folder.
        input_size: unused (in-memory sets are resized in the batch stream).

    Raises:
        DataError: no ``data_dir``, missing files (a still packed archive is pointed out), files
            that resolve outside ``data_dir`` (links followed), or a batch with wrong keys or
            shapes.
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
    parts = [read_batch(p, layout.label_key, layout.num_classes, data_dir) for p in paths[:-2]]
    train = Split(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]))
    test = read_batch(paths[-2], layout.label_key, layout.num_classes, data_dir)
    class_names = read_class_names(paths[-1], layout.names_key, layout.num_classes, data_dir)
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
