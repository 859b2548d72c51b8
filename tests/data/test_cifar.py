"""CIFAR-10/100 from small fake pickle batches, read without unrestricted pickle."""

from __future__ import annotations

import codecs
import os
import pickle
import struct
import warnings

import numpy as np
import pytest
import torch

from cnnzoo.data import DataError, load_dataset
from cnnzoo.data.cifar import PIXELS

CIFAR10_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def batch(n: int, seed: int, label_key: str = "labels", num_classes: int = 10, keys=str) -> dict:
    """A CIFAR-style batch: n images whose red, green, blue planes hold 3 distinct values."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    data[0, :1024], data[0, 1024:2048], data[0, 2048:] = 10, 20, 30
    return {
        keys("batch_label"): "fake",
        keys(label_key): [int(v) for v in rng.integers(0, num_classes, n)],
        keys("data"): data,
        keys("filenames"): [f"img{i}.png" for i in range(n)],
    }


def py2_batch(data: np.ndarray, labels: list[int]) -> bytes:
    """The bytes Python 2's cPickle (protocol 2) wrote for ``{'data': data, 'labels': labels}``,
    as in the real CIFAR files: ``numpy.core`` module names and the array as a Python 2 str."""

    def text(b: bytes) -> bytes:  # SHORT_BINSTRING or BINSTRING
        return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<I", len(b)) + b

    def num(i: int) -> bytes:  # BININT1 or BININT
        return b"K" + bytes([i]) if i < 256 else b"J" + struct.pack("<i", i)

    dtype = b"cnumpy\ndtype\n" + text(b"u1") + b"\x89\x88\x87R(" + num(3) + text(b"|")
    dtype += b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff" + num(0) + b"tb"
    shape = b"(" + b"".join(num(d) for d in data.shape) + b"t"
    array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + num(0) + b"\x85"
    array += (
        text(b"b") + b"\x87R(" + num(1) + shape + dtype + b"\x89" + text(data.tobytes()) + b"tb"
    )
    label_list = b"](" + b"".join(num(v) for v in labels) + b"e"
    return b"\x80\x02}(" + text(b"data") + array + text(b"labels") + label_list + b"u."


def dump(path, obj, protocol: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def as_bytes(key: str) -> bytes:
    return key.encode()


@pytest.fixture
def cifar10_dir(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    for i in range(1, 6):
        dump(folder / f"data_batch_{i}", batch(4, seed=i), protocol=2 + i % 4)  # protocols 2-5
    dump(folder / "test_batch", batch(3, seed=9, keys=as_bytes))  # bytes keys, as Python 2 wrote
    dump(folder / "batches.meta", {b"label_names": [n.encode() for n in CIFAR10_NAMES]})
    return tmp_path


def test_cifar10_loads_with_shapes_and_names(cifar10_dir):
    ds = load_dataset("cifar10", data_dir=cifar10_dir)
    assert ds.train.images.shape == (20, 3, 32, 32) and ds.train.images.dtype == torch.uint8
    assert ds.test.images.shape == (3, 3, 32, 32)
    assert ds.train.labels.dtype == torch.int64 and len(ds.train.labels) == 20
    assert ds.info.class_names == tuple(CIFAR10_NAMES)
    assert (ds.info.num_classes, ds.info.in_chans, ds.info.image_size) == (10, 3, 32)
    # The 3072 bytes are the red, green and blue planes in turn.
    assert ds.train.images[0].flatten(1).unique(dim=1).tolist() == [[10], [20], [30]]
    expected = batch(4, seed=2)["data"][1].reshape(3, 32, 32)
    assert torch.equal(ds.train.images[5], torch.from_numpy(expected))


def test_python2_pickles_as_in_the_real_files(cifar10_dir):
    data = batch(4, seed=5)["data"]
    path = cifar10_dir / "cifar-10-batches-py" / "data_batch_5"
    path.write_bytes(py2_batch(data, [9, 8, 7, 6]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy.core is deprecated: it must not be imported
        ds = load_dataset("cifar10", data_dir=cifar10_dir)
    assert torch.equal(ds.train.images[16:], torch.from_numpy(data.reshape(4, 3, 32, 32)))
    assert ds.train.labels[16:].tolist() == [9, 8, 7, 6]


def test_cifar100_loads_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    dump(folder / "train", batch(6, 0, "fine_labels", 100) | {"coarse_labels": [0] * 6})
    dump(folder / "test", batch(2, 1, "fine_labels", 100) | {"coarse_labels": [0] * 2})
    dump(folder / "meta", {"fine_label_names": [f"c{i}" for i in range(100)]})
    ds = load_dataset("cifar100", data_dir=folder)  # the folder itself works too
    assert ds.train.images.shape == (6, 3, 32, 32) and ds.test.images.shape == (2, 3, 32, 32)
    assert ds.info.num_classes == 100 and ds.info.class_names[99] == "c99"


class Payload:
    """An object whose unpickling would create a directory."""

    def __init__(self, path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_pickle_with_code_is_refused_not_run(cifar10_dir, tmp_path):
    evil = tmp_path / "pwned"
    dump(cifar10_dir / "cifar-10-batches-py" / "data_batch_3", {"data": Payload(evil)})
    with pytest.raises(DataError, match=r"data_batch_3: .*refused to load the global posix.mkdir"):
        load_dataset("cifar10", data_dir=cifar10_dir)
    assert not evil.exists()


def test_missing_key(cifar10_dir):
    b = batch(4, seed=1)
    del b["labels"]
    dump(cifar10_dir / "cifar-10-batches-py" / "data_batch_1", b)
    with pytest.raises(
        DataError,
        match=r"data_batch_1: not a CIFAR batch: lacks the key\(s\) "
        r"'labels'",
    ):
        load_dataset("cifar10", data_dir=cifar10_dir)


@pytest.mark.parametrize(
    "data, problem",
    [
        (np.zeros((4, 3000), np.uint8), r"uint8 of shape \(4, 3000\)"),
        (np.zeros((4, 3072), np.float32), r"float32 of shape \(4, 3072\)"),
        ([1, 2, 3], r"list of shape None"),
    ],
)
def test_wrong_data_shape_or_type(cifar10_dir, data, problem):
    dump(cifar10_dir / "cifar-10-batches-py" / "test_batch", batch(4, 0) | {"data": data})
    with pytest.raises(DataError, match=rf"test_batch: 'data' is {problem}, expected uint8"):
        load_dataset("cifar10", data_dir=cifar10_dir)


def test_label_count_disagrees(cifar10_dir):
    b = batch(4, seed=1)
    b["labels"] = b["labels"][:3]
    dump(cifar10_dir / "cifar-10-batches-py" / "data_batch_2", b)
    with pytest.raises(DataError, match=r"data_batch_2: 4 images but 'labels' holds 3 labels"):
        load_dataset("cifar10", data_dir=cifar10_dir)


def test_truncated_pickle(cifar10_dir):
    path = cifar10_dir / "cifar-10-batches-py" / "data_batch_4"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match=r"data_batch_4: not a readable pickle, truncated"):
        load_dataset("cifar10", data_dir=cifar10_dir)


def test_wrong_number_of_class_names(cifar10_dir):
    dump(cifar10_dir / "cifar-10-batches-py" / "batches.meta", {"label_names": ["a", "b"]})
    with pytest.raises(
        DataError,
        match=r"batches.meta: 'label_names' holds 2 class names, "
        r"expected 10",
    ):
        load_dataset("cifar10", data_dir=cifar10_dir)


def test_missing_files_and_packed_archive(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"")
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", data_dir=tmp_path)
    message = str(err.value)
    assert "Expected data_batch_1, data_batch_2" in message and "batches.meta" in message
    assert f"{tmp_path / 'cifar-10-batches-py'}: no such directory" in message
    assert "still packed: unpack it with `tar -xzf cifar-10-python.tar.gz`" in message
    with pytest.raises(DataError, match="cifar100: no data directory given"):
        load_dataset("cifar100")


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's own array rebuilder


class HugeArray:
    """Unpickles as numpy's ``_reconstruct(ndarray, shape, 'B')``: an array of any size, made
    from a few bytes of pickle."""

    def __init__(self, shape) -> None:
        self.shape = shape

    def __reduce__(self):
        return _RECONSTRUCT, (np.ndarray, self.shape, "B")


class SwappedCopy:
    """An array rebuilt from a state whose data is shared with every other such array: pickled
    once, but copied by numpy into each (a byte-swapped dtype is always copied)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self):
        state = (1, (len(self.data) // 4,), np.dtype(">u4"), False, self.data)
        return _RECONSTRUCT, (np.ndarray, (0,), "B"), state


def test_an_array_larger_than_the_file_is_refused(cifar10_dir):
    path = cifar10_dir / "cifar-10-batches-py" / "data_batch_1"
    dump(path, {"data": HugeArray((1_000_000, PIXELS)), "labels": [0]})  # 3 GB in 200 bytes
    with pytest.raises(
        DataError,
        match=r"data_batch_1: its arrays would take more than its own "
        r"\d+ bytes \(one asks for 3,072,000,000\): refused",
    ):
        load_dataset("cifar10", data_dir=cifar10_dir)


def test_arrays_sharing_their_data_count_each_copy(cifar10_dir):
    path = cifar10_dir / "cifar-10-batches-py" / "data_batch_2"
    shared = bytes(1 << 20)  # in the file once; 1,000 copies would take 1 GB
    dump(path, {"data": [SwappedCopy(shared) for _ in range(1000)], "labels": [0]})
    assert path.stat().st_size < 2 << 20
    with pytest.raises(DataError, match=r"data_batch_2: its arrays would take more than its own"):
        load_dataset("cifar10", data_dir=cifar10_dir)


def test_a_string_longer_than_the_file_is_refused_before_allocation(cifar10_dir):
    path = cifar10_dir / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"tail")  # BINBYTES8, 1 TB
    with pytest.raises(DataError, match=r"data_batch_3: not a readable pickle, truncated"):
        load_dataset("cifar10", data_dir=cifar10_dir)


def test_labels_nested_by_reference_are_refused(cifar10_dir):
    # Pickled once each, the inner lists are shared: 1,000 x 1,000 labels in about 5 kB.
    inner = [0] * 1000
    b = batch(4, seed=1) | {"labels": [inner] * 1000}
    dump(cifar10_dir / "cifar-10-batches-py" / "data_batch_4", b)
    with pytest.raises(DataError, match=r"data_batch_4: 'labels' is not a list of integers"):
        load_dataset("cifar10", data_dir=cifar10_dir)


def test_only_latin1_encoding_and_arrays_of_numbers(cifar10_dir):
    folder = cifar10_dir / "cifar-10-batches-py"

    class Hex:  # each hex round doubles the data: a chain of them is a bomb
        def __reduce__(self):
            return codecs.encode, (b"abc", "hex_codec")

    dump(folder / "data_batch_5", batch(4, seed=5) | {"extra": Hex()})
    with pytest.raises(DataError, match=r"data_batch_5: .*refused to encode to 'hex_codec'"):
        load_dataset("cifar10", data_dir=cifar10_dir)
    dump(folder / "data_batch_5", batch(4, seed=5) | {"data": np.array([None, 1], dtype=object)})
    with pytest.raises(DataError, match=r"data_batch_5: .*refused an array of object"):
        load_dataset("cifar10", data_dir=cifar10_dir)


def test_class_names_must_be_strings(cifar10_dir):
    names = [["a"] * 10] * 10  # str() of shared nested lists can grow without bound
    dump(cifar10_dir / "cifar-10-batches-py" / "batches.meta", {"label_names": names})
    with pytest.raises(
        DataError,
        match=r"batches.meta: 'label_names' holds class names that "
        r"are not strings",
    ):
        load_dataset("cifar10", data_dir=cifar10_dir)
