"""Reading and writing the IDX files of MNIST, Fashion-MNIST, KMNIST and EMNIST, gzipped or not.

The format (LeCun's MNIST page): two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions, then each dimension as a big-endian 32-bit integer, then the data in C order. Image
files have three dimensions (magic number 0x00000803), label files one (0x00000801).
Every check names the file: a wrong magic number, a type other than unsigned byte, a truncated file
or one with bytes left over. The files are read through :mod:`cnnzoo.reading`: regular files only,
a ``.gz`` name must hold gzip, and a gzip stream is inflated no further than its header promises.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from cnnzoo.data.base import DataError, refusals_as_data_errors
from cnnzoo.reading import Data, open_data, read_into

UBYTE = 0x08

__all__ = ["DataError", "read_idx", "write_idx"]


def read_idx(
    path: str | Path, *, ndim: int | None = None, within: str | Path | None = None
) -> torch.Tensor:
    """Read an IDX file of unsigned bytes into a ``uint8`` tensor.

    The size the header announces is checked against what the file can hold before any memory is
    taken; the data is then read a chunk at a time, and a gzip stream is inflated at most one byte
    past it.

    Args:
        path: the file, plain or gzipped (told by its first bytes; a ``.gz`` name must be gzip).
        ndim: if given, the number of dimensions the file must have (3 for images, 1 for labels).
        within: if given, the folder the file must resolve into (links followed).

    Returns:
        A tensor with the file's dimensions.

    Raises:
        DataError: missing or not a regular file, wrong magic number or type, another number of
            dimensions than ``ndim``, fewer bytes than the header announces, bytes left over after
            the data, or corrupt gzip.
    """
    path = Path(path)
    with refusals_as_data_errors():
        try:
            with open_data(path, within=within) as data:
                dims = read_header(path, data.stream, ndim)
                array = read_payload(path, data, dims)
        except (OSError, EOFError, zlib.error) as err:  # EOFError: a gzip stream cut short
            raise DataError(f"{path}: cannot be read, truncated or corrupt gzip? ({err})") from None
    return torch.from_numpy(array.reshape(dims))


def read_header(path: Path, stream: BinaryIO, ndim: int | None) -> tuple[int, ...]:
    """The dimensions an IDX header announces, read from the start of ``stream``."""
    magic = stream.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] != UBYTE:
        raise DataError(
            f"{path}: not an IDX file of unsigned bytes: magic number "
            f"0x{magic.hex() or 'missing'}, expected 0x000008 followed by the number of "
            "dimensions (0x00000803 for images, 0x00000801 for labels)"
        )
    dims_count = magic[3]
    if ndim is not None and dims_count != ndim:
        kind = {3: "an image file", 1: "a label file"}.get(ndim, f"{ndim} dimensions")
        raise DataError(
            f"{path}: magic number 0x{magic.hex()} announces {dims_count} dimensions, "
            f"expected {kind} (magic number 0x{0x800 + ndim:08x})"
        )
    raw = stream.read(4 * dims_count)
    if len(raw) < 4 * dims_count:
        need = 4 + 4 * dims_count
        raise DataError(f"{path}: truncated header ({4 + len(raw)} bytes, need {need})")
    return struct.unpack(f">{dims_count}I", raw)


def read_payload(path: Path, data: Data, dims: tuple[int, ...]) -> np.ndarray:
    """The ``prod(dims)`` bytes after the header, checked against the file before they are read."""
    header = 4 + 4 * len(dims)
    count = math.prod(dims)
    expected = header + count
    if not data.gzipped and data.size < expected:
        raise DataError(
            f"{path}: truncated: {data.size:,} bytes for dimensions {dims}, need {expected:,}"
        )
    if not data.gzipped and data.size > expected:
        raise DataError(
            f"{path}: {data.size - expected:,} bytes left over after the data of dimensions {dims}"
        )
    if expected > data.most:
        raise DataError(
            f"{path}: its header promises {expected:,} bytes (dimensions {dims}), more than "
            f"{data.size:,} bytes of gzip can inflate to"
        )
    array = np.empty(count, dtype=np.uint8)
    got = read_into(data.stream, memoryview(array))
    if got < count:
        raise DataError(
            f"{path}: truncated: {header + got:,} bytes for dimensions {dims}, need {expected:,}"
        )
    if data.stream.read(1):
        raise DataError(
            f"{path}: decompresses to more than the {expected:,} bytes its header promises"
        )
    return array


def write_idx(path: str | Path, array: torch.Tensor) -> None:
    """Write a ``uint8`` tensor as an IDX file (gzipped if the name ends in ``.gz``)."""
    path = Path(path)
    data = array.to(torch.uint8).contiguous().numpy()
    header = bytes([0, 0, UBYTE, data.ndim]) + struct.pack(f">{data.ndim}I", *data.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + data.tobytes())
