"""Reading and writing the IDX files of MNIST, Fashion-MNIST, KMNIST and EMNIST, gzipped or not.

The format (LeCun's MNIST page): two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions, then each dimension as a big-endian 32-bit integer, then the data in C order. Image
files have three dimensions (magic number 0x00000803), label files one (0x00000801).
Every check names the file: a wrong magic number, a type other than unsigned byte, a truncated file
or one with bytes left over.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from cnnzoo.data.base import DataError

UBYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"

__all__ = ["DataError", "read_idx", "write_idx"]


def read_bytes(path: Path) -> bytes:
    """The content of ``path``, decompressed if gzip (told by its first bytes, not its name)."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as err:  # EOFError: a gzip stream cut short
        raise DataError(f"{path}: cannot be read, truncated or corrupt gzip? ({err})") from None
    return raw


def read_idx(path: str | Path, *, ndim: int | None = None) -> torch.Tensor:
    """Read an IDX file of unsigned bytes into a ``uint8`` tensor.

    Args:
        path: the file, plain or gzipped.
        ndim: if given, the number of dimensions the file must have (3 for images, 1 for labels).

    Returns:
        A tensor with the file's dimensions.

    Raises:
        DataError: missing file, wrong magic number or type, another number of dimensions than
            ``ndim``, fewer bytes than the header announces, or bytes left over after the data.
    """
    path = Path(path)
    raw = read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != UBYTE:
        raise DataError(
            f"{path}: not an IDX file of unsigned bytes: magic number "
            f"0x{raw[:4].hex() or 'missing'}, expected 0x000008 followed by the number of "
            "dimensions (0x00000803 for images, 0x00000801 for labels)"
        )
    dims_count = raw[3]
    if ndim is not None and dims_count != ndim:
        kind = {3: "an image file", 1: "a label file"}.get(ndim, f"{ndim} dimensions")
        raise DataError(
            f"{path}: magic number 0x{raw[:4].hex()} announces {dims_count} dimensions, "
            f"expected {kind} (magic number 0x{0x800 + ndim:08x})"
        )
    header = 4 + 4 * dims_count
    if len(raw) < header:
        raise DataError(f"{path}: truncated header ({len(raw)} bytes, need {header})")
    dims = struct.unpack(f">{dims_count}I", raw[4:header])
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) < expected:
        raise DataError(
            f"{path}: truncated: {len(raw):,} bytes for dimensions {dims}, need {expected:,}"
        )
    if len(raw) > expected:
        raise DataError(
            f"{path}: {len(raw) - expected:,} bytes left over after the data of dimensions {dims}"
        )
    data = np.frombuffer(raw, dtype=np.uint8, count=expected - header, offset=header)
    return torch.from_numpy(data.reshape(dims).copy())


def write_idx(path: str | Path, array: torch.Tensor) -> None:
    """Write a ``uint8`` tensor as an IDX file (gzipped if the name ends in ``.gz``)."""
    path = Path(path)
    data = array.to(torch.uint8).contiguous().numpy()
    header = bytes([0, 0, UBYTE, data.ndim]) + struct.pack(f">{data.ndim}I", *data.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + data.tobytes())
