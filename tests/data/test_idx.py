"""The IDX reader: round trips, and a clear DataError for each kind of bad file."""

from __future__ import annotations

import gzip
import math
import os
import struct
import subprocess
import sys
import zlib

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


def write_bomb(path, dims=(1000, 28, 28), gib=4) -> None:
    """A gzipped IDX file whose header promises ``dims`` but whose stream inflates to ``gib`` GiB
    of zeros after the data, in about 1 MB per GiB: a block of 1 MiB of zeros repeated, each after
    a full flush so that it stands alone (the trailer's CRC is wrong, and never reached)."""
    header = bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip wrapper
    start = deflate.compress(header + bytes(math.prod(dims))) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(bytes(1 << 20)) + deflate.flush(zlib.Z_FULL_FLUSH)
    with open(path, "wb") as f:
        f.write(start)
        for _ in range(gib << 10):
            f.write(block)
        f.write(deflate.flush())


# Reads the file under an address-space limit of 1.5 GB above what the interpreter holds once
# torch is imported: the old reader (gzip.decompress of the whole file) needs 4 GiB more.
BOUNDED_READ = """
import resource, sys
from cnnzoo.data import DataError, read_idx
with open("/proc/self/status") as f:
    vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize:")) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 1_500_000_000, resource.RLIM_INFINITY))
try:
    read_idx(sys.argv[1], ndim=3)
except DataError as err:
    print(err)
"""


def test_a_gzip_bomb_ends_with_one_line_in_bounded_memory(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_bomb(path)
    assert path.stat().st_size < 5_000_000
    done = subprocess.run(
        [sys.executable, "-c", BOUNDED_READ, str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"{path}: decompresses to more than the 784,016 bytes its header promises\n"
    )


def test_a_header_promising_more_than_the_gzip_can_hold(tmp_path):
    path = tmp_path / "huge-idx3-ubyte.gz"
    header = bytes([0, 0, 8, 3]) + struct.pack(">3I", 60_000, 4096, 4096)
    path.write_bytes(gzip.compress(header + bytes(100)))
    promise = r"its header promises 1,006,632,960,016 bytes .*, more than \d+ bytes of gzip can"
    with pytest.raises(DataError, match=rf"huge-idx3-ubyte.gz: {promise} inflate to"):
        read_idx(path)


def test_a_gz_name_must_hold_gzip(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    write_idx(tmp_path / "plain", torch.arange(3, dtype=torch.uint8))
    (tmp_path / "plain").rename(path)
    with pytest.raises(
        DataError,
        match=r"labels-idx1-ubyte.gz: named .gz but not gzip: it "
        r"starts with 0x0000, gzip with 0x1f8b",
    ):
        read_idx(path)


def test_only_regular_files_inside_the_folder(tmp_path):
    os.mkfifo(tmp_path / "pipe-idx1-ubyte")
    with pytest.raises(DataError, match=r"pipe-idx1-ubyte: not a regular file \(a FIFO\)"):
        read_idx(tmp_path / "pipe-idx1-ubyte")
    write_idx(tmp_path / "labels", torch.arange(3, dtype=torch.uint8))
    (tmp_path / "data").mkdir()
    os.symlink(tmp_path / "labels", tmp_path / "data" / "labels")
    assert read_idx(tmp_path / "data" / "labels").tolist() == [0, 1, 2]
    with pytest.raises(DataError, match=r"data/labels: resolves to a file outside .*data"):
        read_idx(tmp_path / "data" / "labels", within=tmp_path / "data")
