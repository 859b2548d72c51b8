"""``cnnzoo predict`` on image files of any kind: 16-bit and float images predicted as their 8-bit
twins; FIFOs, bombs, misnamed and unconvertible files refused in one line."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image
from trainutil import fake_digits

from cnnzoo.cli import main
from cnnzoo.train import TrainConfig, run
from timelimit import deadline


@pytest.fixture(scope="module")
def checkpoint(fake_mnist, tmp_path_factory):
    """A LeNet-5 trained for one short epoch on the fake digits (1 channel, 28 x 28)."""
    out = tmp_path_factory.mktemp("predict") / "run"
    run(
        TrainConfig(
            "lenet5",
            dataset="mnist",
            data_dir=str(fake_mnist),
            epochs=1,
            batch_size=64,
            subset=256,
            out=str(out),
            checkpoint_every=0,
        )
    )
    return out / "last.pt"


@pytest.fixture
def digit() -> np.ndarray:
    """A fake digit: 28 x 28 uint8, values from about 0 to 210."""
    return fake_digits(1, seed=4)[0][0].numpy()


def probabilities(checkpoint, paths, capsys) -> list[list[float]]:
    capsys.readouterr()
    assert main(["predict", str(checkpoint), *map(str, paths), "--format", "json"]) == 0
    return [[row["probability"] for row in r["top"]] for r in json.loads(capsys.readouterr().out)]


def refusal(checkpoint, path, capsys) -> str:
    """The one line ``cnnzoo predict`` prints for ``path``, with exit code 2."""
    capsys.readouterr()
    assert main(["predict", str(checkpoint), str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnzoo predict: error: ")
    return lines[0].removeprefix("cnnzoo predict: error: ")


def test_a_16_bit_png_predicts_as_its_8_bit_twin(checkpoint, digit, tmp_path, capsys):
    Image.fromarray(digit).save(tmp_path / "d8.png")
    Image.fromarray(digit.astype(np.uint16) * 257).save(tmp_path / "d16.png")  # 0..255 -> 0..65535
    assert Image.open(tmp_path / "d16.png").mode == "I;16"
    eight, sixteen = probabilities(checkpoint, [tmp_path / "d8.png", tmp_path / "d16.png"], capsys)
    assert sixteen == eight  # clipped to 255, the 16-bit digit was a white square


@pytest.mark.parametrize("scale", [1 / 255, 1.0])
def test_a_float_tiff_predicts_as_its_8_bit_twin(checkpoint, digit, tmp_path, capsys, scale):
    Image.fromarray(digit).save(tmp_path / "d8.png")
    Image.fromarray(digit.astype(np.float32) * np.float32(scale)).save(tmp_path / "f.tif")
    eight, floats = probabilities(checkpoint, [tmp_path / "d8.png", tmp_path / "f.tif"], capsys)
    assert floats == eight


def test_a_float_tiff_of_nan_is_refused(checkpoint, digit, tmp_path, capsys):
    values = digit.astype(np.float32)
    values[3, 3] = np.nan
    Image.fromarray(values).save(tmp_path / "nan.tif")
    line = refusal(checkpoint, tmp_path / "nan.tif", capsys)
    assert line == f"{tmp_path / 'nan.tif'}: a float image holding NaN or infinite values"


def test_a_fifo_is_refused_at_once(checkpoint, tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe.png")
    with deadline(20):  # the old reader waited for a writer forever
        line = refusal(checkpoint, tmp_path / "pipe.png", capsys)
    assert line == f"{tmp_path / 'pipe.png'}: not a regular file (a FIFO)"
    assert refusal(checkpoint, tmp_path, capsys) == f"{tmp_path}: not a regular file (a directory)"


def test_a_decompression_bomb_is_refused(checkpoint, tmp_path, capsys, monkeypatch):
    Image.new("L", (60, 60)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 3,600 pixels: Pillow's error range
    line = refusal(checkpoint, tmp_path / "bomb.png", capsys)
    assert line.startswith(f"{tmp_path / 'bomb.png'}: refused as a decompression bomb: ")


def test_a_misnamed_file_says_what_the_name_and_the_bytes_are(checkpoint, digit, tmp_path, capsys):
    Image.fromarray(digit).save(tmp_path / "d.png", format="JPEG")
    line = refusal(checkpoint, tmp_path / "d.png", capsys)
    assert line == f"{tmp_path / 'd.png'}: named .png but holds a JPEG image"
