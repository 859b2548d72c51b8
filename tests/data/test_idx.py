"""The IDX reader: round trips, and a clear DataError for each kind of bad file."""

from __future__ import annotations

import gzip

import pytest
import torch

from cnnzoo.data import DataError, read_idx, write_idx


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_round_trip_plain_and_gzipped(tmp_path, name):
    images = torch.randint(0, 256, (5, 7, 6), dtype=torch.uint8)
    write_idx(tmp_path / name, images)
    assert torch.equal(read_idx(tmp_path / name, ndim=3), images)
    labels = torch.arange(5, dtype=torch.uint8)
    write_idx(tmp_path / f"labels-{name}", labels)
    assert torch.equal(read_idx(tmp_path / f"labels-{name}", ndim=1), labels)


def test_gzip_is_told_by_content_not_name(tmp_path):
    images = torch.randint(0, 256, (2, 3, 3), dtype=torch.uint8)
    write_idx(tmp_path / "a.gz", images)
    (tmp_path / "a.gz").rename(tmp_path / "a")
    assert torch.equal(read_idx(tmp_path / "a"), images)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nothere.*file not found"):
        read_idx(tmp_path / "nothere")


def test_wrong_magic_number(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(b"\x12\x34\x08\x03" + bytes(20))
    with pytest.raises(
        DataError, match=r"bad-idx3-ubyte: not an IDX file.*magic number 0x12340803"
    ):
        read_idx(path)


def test_wrong_type_code(tmp_path):
    path = tmp_path / "floats"
    path.write_bytes(b"\x00\x00\x0d\x01" + (4).to_bytes(4, "big") + bytes(16))
    with pytest.raises(DataError, match="floats: not an IDX file of unsigned bytes"):
        read_idx(path)


def test_label_file_where_images_are_expected(tmp_path):
    write_idx(tmp_path / "labels", torch.zeros(3, dtype=torch.uint8))
    with pytest.raises(DataError, match=r"labels: magic number 0x00000801 .* expected an image"):
        read_idx(tmp_path / "labels", ndim=3)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_file(tmp_path, gz):
    path = tmp_path / "cut-idx3-ubyte"
    write_idx(path, torch.ones(4, 5, 5, dtype=torch.uint8))
    raw = path.read_bytes()[:-7]
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(DataError, match=r"cut-idx3-ubyte: truncated: 109 bytes .* need 116"):
        read_idx(path)


def test_cut_gzip_stream(tmp_path):
    path = tmp_path / "cut.gz"
    write_idx(path, torch.ones(40, 5, 5, dtype=torch.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"cut.gz: cannot be read, truncated or corrupt gzip"):
        read_idx(path)


def test_bytes_left_over(tmp_path):
    path = tmp_path / "long"
    write_idx(path, torch.ones(2, 2, 2, dtype=torch.uint8))
    path.write_bytes(path.read_bytes() + b"xyz")
    with pytest.raises(DataError, match="long: 3 bytes left over"):
        read_idx(path)


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)
