"""cnnzoo.reading: regular files only, inside their folder, of the format their name says; walks
without link loops; images converted faithfully or refused in one line."""

from __future__ import annotations

import gzip
import io
import os

import numpy as np
import pytest
from PIL import Image

from cnnzoo.reading import (
    UnsafeInput,
    open_data,
    open_regular,
    read_data,
    read_image,
    read_text,
    regular_file,
    walk_files,
)
from timelimit import deadline


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_regular_file_resolves_and_refuses_the_rest(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    os.symlink("a.txt", tmp_path / "link.txt")
    assert regular_file(tmp_path / "link.txt") == (tmp_path / "a.txt").resolve()
    os.symlink("gone.txt", tmp_path / "dangling.txt")
    os.mkfifo(tmp_path / "pipe")
    for name, cause in [
        ("nothere", "file not found"),
        ("dangling.txt", "a link to a missing file"),
        (".", "not a regular file (a directory)"),
        ("pipe", "not a regular file (a FIFO)"),
    ]:
        with pytest.raises(UnsafeInput) as err:
            regular_file(tmp_path / name, what="--x")
        assert one_line(err) == f"--x {tmp_path / name}: {cause}"


def test_within_refuses_a_link_out_of_the_folder(tmp_path):
    inside, outside = tmp_path / "run", tmp_path / "secret.txt"
    inside.mkdir()
    outside.write_text("key")
    os.symlink(outside, inside / "metrics.csv")
    assert regular_file(inside / "metrics.csv") == outside.resolve()  # no folder: allowed
    with pytest.raises(UnsafeInput, match=rf"metrics.csv: resolves to a file outside {inside}"):
        regular_file(inside / "metrics.csv", within=inside)
    with pytest.raises(UnsafeInput, match="outside"):
        regular_file(inside / ".." / "secret.txt", within=inside)


def test_open_regular_does_not_block_on_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with deadline(5), pytest.raises(UnsafeInput, match=r"pipe: not a regular file \(a FIFO\)"):
        open_regular(tmp_path / "pipe")
    (tmp_path / "f").write_bytes(b"abc")
    with open_regular(tmp_path / "f") as f:
        assert f.read() == b"abc"  # blocking reads again once checked


def test_open_data_tells_gzip_by_its_bytes_and_a_gz_name_must_hold_it(tmp_path):
    (tmp_path / "plain.gz").write_bytes(b"\x00\x00\x08\x01rest")
    with pytest.raises(UnsafeInput) as err, open_data(tmp_path / "plain.gz"):
        pass
    assert one_line(err).endswith(
        "plain.gz: named .gz but not gzip: it starts with 0x0000, gzip with 0x1f8b"
    )
    (tmp_path / "packed").write_bytes(gzip.compress(b"hello"))
    with open_data(tmp_path / "packed") as data:
        assert data.gzipped and data.stream.read() == b"hello"
        assert data.most == data.size * 1032


def test_read_data_stops_at_its_limit(tmp_path):
    (tmp_path / "big.gz").write_bytes(gzip.compress(bytes(10**6)))  # 1 MB in 1 kB
    assert read_data(tmp_path / "big.gz", limit=10**6) == bytes(10**6)
    with pytest.raises(UnsafeInput, match=r"big.gz: holds more than the 1,000 bytes"):
        read_data(tmp_path / "big.gz", limit=1000)


def test_read_text_refuses_bytes_that_are_not_utf8(tmp_path):
    (tmp_path / "names.txt").write_bytes("café\n".encode("latin1"))
    with pytest.raises(UnsafeInput) as err:
        read_text(tmp_path / "names.txt", limit=100)
    assert one_line(err).endswith("names.txt: not UTF-8 text (byte 0xe9 at offset 3)")
    (tmp_path / "ok.txt").write_text("café", encoding="utf-8")
    assert read_text(tmp_path / "ok.txt", limit=100) == "café"


def test_walk_files_survives_links_to_itself_and_its_parent(tmp_path):
    cls = tmp_path / "train" / "cat"
    (cls / "sub").mkdir(parents=True)
    for name in ("b.png", "a.png", "sub/c.png", "notes.txt"):
        (cls / name).write_bytes(b"x")
    # os.walk(followlinks=True) walks 2^40 paths here (40: the kernel's limit on links).
    os.symlink(".", cls / "loop")
    os.symlink(".", cls / "sub" / "again")
    os.symlink("..", cls / "sub" / "up")
    os.symlink("../..", cls / "root")
    with deadline(10):
        found = list(walk_files(cls, (".png",), within=tmp_path))
    assert found == [cls / "a.png", cls / "b.png", cls / "sub" / "c.png"]
    (cls / "D.PNG").write_bytes(b"x")
    assert cls / "D.PNG" in walk_files(cls, (".png",), within=tmp_path)  # endings: case-blind
    assert len(list(walk_files(cls, within=tmp_path))) == 5  # every file, notes.txt included


def test_walk_files_refuses_links_out_and_odd_files(tmp_path):
    cls = tmp_path / "data" / "cat"
    cls.mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.png").write_bytes(b"x")
    os.symlink(tmp_path / "elsewhere", cls / "more")
    with pytest.raises(UnsafeInput, match=r"more: resolves to a file outside .*data"):
        list(walk_files(cls, (".png",), within=tmp_path / "data"))
    os.unlink(cls / "more")
    os.mkfifo(cls / "pipe.png")
    with pytest.raises(UnsafeInput, match=r"pipe.png: not a regular file \(a FIFO\)"):
        list(walk_files(cls, (".png",)))
    assert list(walk_files(cls, (".jpg",))) == []  # not listed, not refused
    with pytest.raises(UnsafeInput, match="nothere: file not found"):
        list(walk_files(tmp_path / "nothere"))


def save(image: Image.Image, path, **kwargs):
    image.save(path, **kwargs)
    return path


GREYS = np.arange(0, 256, 4, dtype=np.uint8).reshape(8, 8)


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    eight = read_image(save(Image.fromarray(GREYS), tmp_path / "g8.png"), "L")
    path = save(Image.fromarray(GREYS.astype(np.uint16) * 257), tmp_path / "g16.png")
    assert Image.open(path).mode == "I;16"
    sixteen = read_image(path, "L")
    assert np.array_equal(np.asarray(sixteen), np.asarray(eight))
    rgb = read_image(path, "RGB")
    assert rgb.mode == "RGB" and np.array_equal(np.asarray(rgb)[..., 1], GREYS)
    wide = save(Image.fromarray(GREYS.astype(np.int32) * 1000), tmp_path / "wide.tif")
    with pytest.raises(UnsafeInput, match=r"wide.tif: a I image of values 0 to 252000, beyond"):
        read_image(wide)


@pytest.mark.parametrize("scale", [1 / 255, 1.0])
def test_float_images_in_0_1_or_0_255_are_converted(tmp_path, scale):
    path = save(Image.fromarray(GREYS.astype(np.float32) * scale), tmp_path / "f.tiff")
    assert Image.open(path).mode == "F"
    assert np.array_equal(np.asarray(read_image(path, "L")), GREYS)


@pytest.mark.parametrize(
    "value, problem",
    [
        (np.nan, "holding NaN or infinite values"),
        (-1.0, "of values -1 to 252"),
        (300.0, "of values 4 to 300"),
    ],
)
def test_other_float_images_are_refused(tmp_path, value, problem):
    values = GREYS.astype(np.float32)
    values[0, 0] = value
    path = save(Image.fromarray(values), tmp_path / "f.tif")
    with pytest.raises(UnsafeInput, match=f"f.tif: a float image {problem}") as err:
        read_image(path)
    one_line(err)


def test_a_name_must_match_the_bytes(tmp_path):
    jpeg = save(Image.new("RGB", (8, 8), (9, 9, 9)), tmp_path / "photo.png", format="JPEG")
    with pytest.raises(UnsafeInput, match=r"photo.png: named .png but holds a JPEG image"):
        read_image(jpeg)
    (tmp_path / "page.png").write_text("<html>hello</html>")
    with pytest.raises(UnsafeInput) as err:
        read_image(tmp_path / "page.png")
    assert one_line(err).endswith(
        "page.png: named .png but not a readable PNG image: its first bytes are 0x3c68746d6c3e6865"
    )
    # a name that promises no format takes any format cnnzoo reads
    unnamed = save(Image.new("L", (4, 4), 7), tmp_path / "scan", format="PNG")
    assert read_image(unnamed, "L").getpixel((0, 0)) == 7


def test_decompression_bombs_are_refused(tmp_path, monkeypatch):
    path = save(Image.new("L", (40, 40)), tmp_path / "big.png")  # 1,600 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow warns above, raises above 2x
    with pytest.raises(UnsafeInput, match=r"big.png: refused as a decompression bomb"):
        read_image(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(UnsafeInput, match=r"big.png: refused as a decompression bomb"):
        read_image(path)


def test_undecodable_and_unconvertible_images_are_one_line(tmp_path):
    good = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)).save(good, "PNG")
    (tmp_path / "cut.png").write_bytes(good.getvalue()[:200])
    with pytest.raises(UnsafeInput, match=r"cut.png: cannot be decoded \(") as err:
        read_image(tmp_path / "cut.png")
    one_line(err)
    lab = save(Image.new("LAB", (4, 4)), tmp_path / "lab.tif")
    with pytest.raises(UnsafeInput, match=r"lab.tif: an image of mode LAB, which cnnzoo does not"):
        read_image(lab)
