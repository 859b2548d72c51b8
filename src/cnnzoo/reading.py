"""Reading the files a user names, safely: the one place for the guarantees every reader of cnnzoo
relies on (issue #20). Every refusal is an :class:`UnsafeInput`, a ``ValueError`` whose message is
one line naming the path and the cause, which the command line prints as
``cnnzoo <command>: error: <message>``.

- Only regular files are read. A directory, FIFO, socket or device is refused before it is opened;
  the file is then opened without blocking and checked again on its descriptor, so a FIFO put in
  its place meanwhile cannot hang the reader.
- With ``within``, a file must resolve (links followed) to a path inside that folder.
- A file is of the format its name says: a ``.gz`` holds gzip, a ``.png`` a PNG; the message says
  what the name promises and what the bytes are.
- Decompression is bounded: :func:`open_data` says the most bytes a stream can inflate to, and its
  readers stop at what their header promises (:func:`read_into`) or at a limit (:func:`read_data`).
- Directory walks (:func:`walk_files`) follow links to directories inside ``within``, but enter a
  directory only once (told by device and inode, its ancestors counted as entered), so a link to
  ``.`` or ``..`` adds nothing and a tree of links cannot grow the walk exponentially.
- Images (:func:`read_image`) are converted to 8-bit greyscale or RGB faithfully: 16-bit values
  scaled by 255/65535, float values scaled from [0, 1] or kept in [0, 255], anything else refused;
  an image of more than Pillow's ``MAX_IMAGE_PIXELS`` is refused as a decompression bomb.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gzip
import json
import os
import stat
import warnings
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

GZIP_MAGIC = b"\x1f\x8b"
# DEFLATE's largest ratio: a 258-byte match coded in about 2 bits (zlib's technical details).
DEFLATE_MAX_RATIO = 1032
CHUNK = 1 << 20  # bytes read at a time from a stream
# Pillow's name of the format each image suffix promises.
IMAGE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".ppm": "PPM",
    ".pgm": "PPM",
    ".pbm": "PPM",
    ".pnm": "PPM",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
# Image modes of 8-bit channels, which Pillow converts to "L" and "RGB" as they are.
EIGHT_BIT_MODES = {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr"}
INTEGER_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}  # 16-bit values (I: in 32 bits)
SIXTEEN_BIT_MAX = 65535
FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class UnsafeInput(ValueError):
    """A file refused by this module; the message is one line naming the path and the cause."""


def refusal(path: str | Path, cause: str, what: str = "") -> UnsafeInput:
    """The :class:`UnsafeInput` ``"[what ]path: cause"``."""
    return UnsafeInput(" ".join(filter(None, (what, f"{path}: {cause}"))))


def os_cause(err: OSError, path: Path) -> str:
    """Why ``path`` could not be opened, in words."""
    if err.errno == errno.ENOENT:
        return "a link to a missing file" if path.is_symlink() else "file not found"
    if err.errno == errno.ELOOP:
        return "a loop of links"
    return (err.strerror or str(err)).lower()


def kind_of(mode: int) -> str | None:
    """What a file of ``st_mode`` ``mode`` is ("a FIFO" ...); ``None`` for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in FILE_KINDS if test(mode)), "not a file")


def check_within(path: Path, real: Path, within: str | Path, what: str = "") -> None:
    """Refuse ``path`` unless its resolved form ``real`` lies inside the resolved ``within``."""
    base = Path(within).resolve()
    if not real.is_relative_to(base):
        # the link's target is not named: the line may be published (a report's results page)
        raise refusal(path, f"resolves to a file outside {base}", what)


def regular_file(path: str | Path, *, within: str | Path | None = None, what: str = "") -> Path:
    """The resolved path of a regular file.

    Args:
        path: the file.
        within: if given, the folder the file must resolve into (links followed).
        what: prefixes the message (e.g. ``"--embed runs/x:"``).

    Returns:
        ``path`` resolved (links followed).

    Raises:
        UnsafeInput: a missing file, a dangling link, a directory, FIFO, socket or device, or a
            file outside ``within``.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
        real = path.resolve(strict=True)
    except OSError as err:
        raise refusal(path, os_cause(err, path), what) from None
    kind = kind_of(mode)
    if kind:
        raise refusal(path, f"not a regular file ({kind})", what)
    if within is not None:
        check_within(path, real, within, what)
    return real


def open_regular(path: str | Path, *, within: str | Path | None = None, what: str = "") -> BinaryIO:
    """Open a regular file for reading in binary, with :func:`regular_file`'s checks.

    The file is opened with ``O_NONBLOCK`` (a FIFO put in its place cannot block) and without
    following a last link, then checked on its descriptor, then set to blocking reads.

    Raises:
        UnsafeInput: as :func:`regular_file`, or the file cannot be opened.
    """
    real = regular_file(path, within=within, what=what)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(real, flags)
    except OSError as err:
        raise refusal(path, os_cause(err, Path(path)), what) from None
    try:
        kind = kind_of(os.fstat(fd).st_mode)
        if kind:
            raise refusal(path, f"not a regular file ({kind})", what)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class Data(NamedTuple):
    """An open file's bytes (see :func:`open_data`): the stream, the file's size on disk, and
    whether the stream inflates gzip."""

    stream: BinaryIO
    size: int
    gzipped: bool

    @property
    def most(self) -> int:
        """The most bytes the stream can give: the size, or for gzip the size times DEFLATE's
        largest ratio."""
        return self.size * DEFLATE_MAX_RATIO if self.gzipped else self.size


@contextlib.contextmanager
def open_data(
    path: str | Path, *, within: str | Path | None = None, what: str = ""
) -> Iterator[Data]:
    """A regular file's bytes as a stream, decompressed if it is gzip.

    Gzip is told by the first bytes, so a gzipped file of another name is read too; a name ending
    in ``.gz`` must hold gzip. Reading a gzip stream inflates only as much as is read, and may
    raise ``OSError``, ``EOFError`` or ``zlib.error`` on corrupt data.

    Yields:
        The :class:`Data`.

    Raises:
        UnsafeInput: as :func:`open_regular`, or a ``.gz`` that is not gzip.
    """
    path = Path(path)
    with open_regular(path, within=within, what=what) as raw:
        head = raw.read(len(GZIP_MAGIC))
        raw.seek(0)
        size = os.fstat(raw.fileno()).st_size
        if head != GZIP_MAGIC:
            if path.suffix == ".gz":
                start = f"starts with 0x{head.hex()}" if head else "is empty"
                raise refusal(path, f"named .gz but not gzip: it {start}, gzip with 0x1f8b", what)
            yield Data(raw, size, gzipped=False)
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            yield Data(stream, size, gzipped=True)


def read_into(stream: BinaryIO, buffer: memoryview) -> int:
    """Fill ``buffer`` from ``stream`` a chunk at a time; the number of bytes read (fewer: the
    stream ended)."""
    done = 0
    while done < len(buffer):
        got = stream.readinto(buffer[done : done + CHUNK])
        if not got:
            break
        done += got
    return done


def read_data(
    path: str | Path, *, limit: int, within: str | Path | None = None, what: str = ""
) -> bytes:
    """The whole content of a regular file, decompressed if gzip (see :func:`open_data`).

    Raises:
        UnsafeInput: as :func:`open_data`, more than ``limit`` bytes (read no further), or
            corrupt gzip.
    """
    try:
        with open_data(path, within=within, what=what) as opened:
            data = opened.stream.read(limit + 1)
    except (OSError, EOFError, zlib.error) as err:
        raise refusal(path, f"cannot be read, truncated or corrupt gzip? ({err})", what) from None
    if len(data) > limit:
        raise refusal(path, f"holds more than the {limit:,} bytes such a file may have", what)
    return data


def read_text(
    path: str | Path, *, limit: int, within: str | Path | None = None, what: str = ""
) -> str:
    """A regular file of at most ``limit`` bytes as UTF-8 text.

    Raises:
        UnsafeInput: as :func:`open_regular`, too large, or not UTF-8.
    """
    with open_regular(path, within=within, what=what) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise refusal(path, f"holds more than the {limit:,} bytes such a file may have", what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        byte = data[err.start]
        cause = f"not UTF-8 text (byte 0x{byte:02x} at offset {err.start})"
        raise refusal(path, cause, what) from None


def walk_files(
    root: str | Path, suffixes: Iterable[str] | None = None, *, within: str | Path | None = None
) -> Iterator[Path]:
    """The regular files under ``root``, links to folders followed, each folder entered once.

    Deterministic: a folder's files in name order, then its subfolders' in name order. A folder
    already entered (a link to ``.``, to an ancestor or to a folder listed before) is skipped, so
    the walk ends and lists each file of a tree once.

    Args:
        root: the folder to walk.
        suffixes: the name endings to list, lower case (``(".png", ".jpg")``; matched case-blind);
            ``None`` lists every file.
        within: the folder that links must resolve into (default: ``root``).

    Yields:
        Paths under ``root`` as walked (not resolved).

    Raises:
        UnsafeInput: ``root`` is not a folder or lies outside ``within``; a link that resolves
            outside ``within``; a dangling link, a directory, FIFO, socket or device with a listed
            ending; a folder that cannot be listed.
    """
    root = Path(root)
    try:
        is_dir = stat.S_ISDIR(os.stat(root).st_mode)
    except OSError as err:
        raise refusal(root, os_cause(err, root)) from None
    if not is_dir:
        raise refusal(root, "not a directory")
    base = Path(within if within is not None else root).resolve()
    real = root.resolve()
    check_within(root, real, base)
    seen = {folder_key(folder) for folder in (real, *real.parents) if folder.is_relative_to(base)}
    ends = None if suffixes is None else tuple(suffixes)
    yield from walk_folder(root, ends, base, seen)


def folder_key(folder: Path) -> tuple[int, int]:
    """A folder's identity: its device and inode."""
    info = os.stat(folder)
    return info.st_dev, info.st_ino


def walk_folder(
    folder: Path, ends: tuple[str, ...] | None, base: Path, seen: set[tuple[int, int]]
) -> Iterator[Path]:
    """:func:`walk_files` below ``folder``; ``seen`` holds the folders entered (updated)."""
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError as err:
        raise refusal(folder, os_cause(err, folder)) from None
    subfolders = []
    for entry in entries:
        path = Path(entry.path)
        if entry.is_dir():  # links followed
            info = entry.stat()
            key = (info.st_dev, info.st_ino)
            if key not in seen:
                if entry.is_symlink():
                    check_within(path, path.resolve(), base)
                seen.add(key)
                subfolders.append(path)
            continue
        if ends is not None and not entry.name.lower().endswith(ends):
            continue
        if entry.is_file():
            if entry.is_symlink():
                check_within(path, path.resolve(), base)
            yield path
            continue
        try:
            kind = kind_of(entry.stat().st_mode)
        except OSError as err:  # a dangling link, a loop of links
            raise refusal(path, os_cause(err, path)) from None
        raise refusal(path, f"not a regular file ({kind})")
    for sub in subfolders:
        yield from walk_folder(sub, ends, base, seen)


def read_image(
    path: str | Path, mode: str = "RGB", *, within: str | Path | None = None, what: str = ""
):
    """An image file as a Pillow image of ``mode``, converted faithfully (see the module docstring).

    Args:
        path: the file; a known image suffix (:data:`IMAGE_FORMATS`) must match its bytes.
        mode: ``"L"`` (8-bit greyscale) or ``"RGB"``.
        within: if given, the folder the file must resolve into.
        what: prefixes the message.

    Returns:
        The decoded image, in ``mode``.

    Raises:
        UnsafeInput: as :func:`open_regular`; bytes of another format than the name says, or no
            image; a decompression bomb; an undecodable image; values that cannot be converted
            faithfully (NaN, negative, beyond 16 bits ...).
    """
    if mode not in ("L", "RGB"):
        raise ValueError(f"mode must be 'L' or 'RGB', got {mode!r}")
    with open_regular(path, within=within, what=what) as f:
        image = eight_bit(decode_image(f, Path(path), what), Path(path), what)
        try:
            return image.convert(mode)
        except ValueError as err:  # a mode Pillow cannot convert (LAB, HSV ...)
            raise refusal(
                path, f"an image of mode {image.mode} cannot be converted to {mode} ({err})", what
            ) from None


def decode_image(f: BinaryIO, path: Path, what: str):
    """Decode the image in ``f``, checked against the format ``path``'s suffix promises."""
    from PIL import Image, UnidentifiedImageError

    suffix = path.suffix.lower()
    expected = IMAGE_FORMATS.get(suffix)
    Image.init()  # registers the format plugins this Pillow has
    formats = [name for name in sorted(set(IMAGE_FORMATS.values())) if name in Image.OPEN]
    with warnings.catch_warnings():
        # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that: refuse both.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(f, formats=formats)
            if expected and image.format != expected:
                raise refusal(path, f"named {suffix} but holds a {image.format} image", what)
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise refusal(path, f"refused as a decompression bomb: {err}", what) from None
        except UnidentifiedImageError:
            f.seek(0)
            bytes_are = f"its first bytes are 0x{f.read(8).hex()}"
            said = (
                f"named {suffix} but not a readable {expected} image"
                if expected
                else ("not an image of a format cnnzoo reads")
            )
            raise refusal(path, f"{said}: {bytes_are}", what) from None
        except UnsafeInput:
            raise
        except Exception as err:  # a malformed file makes Pillow's decoders raise many types
            cause = " ".join(str(err).split()) or type(err).__name__
            raise refusal(path, f"cannot be decoded ({cause})", what) from None
    if image.width * image.height == 0:
        raise refusal(path, "an image of no pixels", what)
    return image


def eight_bit(image, path: Path, what: str = ""):
    """``image`` with 8-bit channels: 16-bit values scaled by 255/65535; float values in [0, 1]
    scaled by 255, in [0, 255] kept; anything else refused."""
    from PIL import Image

    if image.mode in EIGHT_BIT_MODES:
        return image
    if image.mode in INTEGER_MODES:
        values = np.asarray(image).astype(np.int64)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > SIXTEEN_BIT_MAX:
            raise refusal(
                path,
                f"a {image.mode} image of values {low} to {high}, beyond the 16 "
                f"bits (0 to {SIXTEEN_BIT_MAX}) cnnzoo converts",
                what,
            )
        scaled = values * (255 / SIXTEEN_BIT_MAX)
    elif image.mode == "F":
        values = np.asarray(image).astype(np.float64)
        if not np.isfinite(values).all():
            raise refusal(path, "a float image holding NaN or infinite values", what)
        low, high = float(values.min()), float(values.max())
        if low < 0 or high > 255:
            raise refusal(
                path,
                f"a float image of values {low:g} to {high:g}; cnnzoo converts "
                "values in [0, 1] or [0, 255]",
                what,
            )
        scaled = values * 255 if high <= 1 else values
    else:
        raise refusal(
            path,
            f"an image of mode {image.mode}, which cnnzoo does not convert; "
            "save it as 8- or 16-bit greyscale or RGB",
            what,
        )
    return Image.fromarray(np.rint(scaled).astype(np.uint8))


def json_text(text: str, name: str):
    """The JSON value in a file's ``text``; a one-line ``ValueError`` naming ``name`` otherwise
    (a nesting too deep for the parser included)."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{name} is not readable JSON ({err})") from None


def json_object(text: str, name: str, keys: tuple[str, ...] = ()) -> dict:
    """The JSON object in a file's ``text``, with every one of ``keys``; a one-line
    ``ValueError`` naming ``name`` otherwise."""
    record = json_text(text, name)
    if not isinstance(record, dict):
        raise ValueError(f"{name} is not a JSON object")
    missing = [key for key in keys if key not in record]
    if missing:
        raise ValueError(f"{name} lacks {', '.join(map(repr, missing))}")
    return record
