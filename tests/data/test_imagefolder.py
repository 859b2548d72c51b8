"""Image folders (tiny PNGs), their presets, loaders and the single-image transform."""

from __future__ import annotations

import io
import os
from itertools import chain
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnzoo.cli import main
from cnnzoo.data import (
    DataError,
    LoaderStream,
    ShardSampler,
    image_transform,
    load_dataset,
    make_loader,
)
from cnnzoo.data.imagefolder import IMAGENET_MEAN
from timelimit import deadline


def write_png(path, size=(20, 14), color=(200, 30, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


@pytest.fixture
def folder(tmp_path):
    for split, count in (("train", 3), ("val", 2)):
        for cls, color in (("cat", (250, 0, 0)), ("dog", (0, 250, 0))):
            for i in range(count):
                write_png(tmp_path / split / cls / f"{i}.png", (18 + i, 14), color)
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image")
    return tmp_path


def test_loads_with_presets(folder):
    ds = load_dataset("imagefolder", data_dir=folder, input_size=16)
    assert ds.info.class_names == ("cat", "dog") and ds.info.num_classes == 2
    assert (ds.info.in_chans, ds.info.image_size, ds.info.mean) == (3, 16, IMAGENET_MEAN)
    assert len(ds.train) == 6 and len(ds.test) == 4
    image, label = ds.train[0]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32 and label == 0
    image, label = ds.test[3]
    assert image.shape == (3, 16, 16) and label == 1
    # Eval preset: resize + centre crop of a green image, normalised with ImageNet's statistics.
    assert image[1].mean() == pytest.approx((250 / 255 - 0.456) / 0.224, abs=1e-3)


def test_default_crop_is_224(folder):
    ds = load_dataset("imagefolder", data_dir=folder)
    assert ds.info.image_size == 224 and ds.test[0][0].shape == (3, 224, 224)


def test_empty_class_folder_names_it(folder):
    (folder / "val" / "bird").mkdir()
    (folder / "val" / "bird" / "readme.txt").write_text("")
    with pytest.raises(DataError, match=r"val/bird: empty class folder, holds no image"):
        load_dataset("imagefolder", data_dir=folder)


def test_classes_must_agree(folder):
    write_png(folder / "train" / "bird" / "0.png")
    with pytest.raises(DataError, match=r"val: class folders differ .*only in train: \['bird'\]"):
        load_dataset("imagefolder", data_dir=folder)


def test_missing_split_and_data_dir(tmp_path):
    write_png(tmp_path / "train" / "a" / "0.png")
    with pytest.raises(DataError, match=r"/val: no such directory"):
        load_dataset("imagefolder", data_dir=tmp_path)
    with pytest.raises(DataError, match="imagefolder: no data directory given"):
        load_dataset("imagefolder")


def test_subset_is_evenly_spaced_over_classes(folder):
    ds = load_dataset("imagefolder", data_dir=folder, input_size=8, subset=2)
    assert [ds.train[i][1] for i in range(2)] == [0, 1]
    assert len(ds.test) == 4  # the test split stays whole


def test_loader_and_its_stream(folder):
    ds = load_dataset("imagefolder", data_dir=folder, input_size=8)
    loader = make_loader(ds.test, batch_size=3, train=False, num_workers=0)
    batches = list(loader)
    assert [len(labels) for _, labels in batches] == [3, 1]
    assert batches[0][0].shape == (3, 3, 8, 8)
    stream = LoaderStream(
        ds.train,
        ds.info,
        batch_size=2,
        train=True,
        seed=1,
        device="cpu",
        num_workers=0,
        channels_last=True,
    )
    assert stream.num_batches() == 3
    labels = [y.tolist() for _, y in stream.epoch(0)]
    assert sorted(chain(*labels)) == [0, 0, 0, 1, 1, 1]
    assert [y.tolist() for _, y in stream.epoch(0, start_step=1)] == labels[1:]
    x, _ = next(iter(stream.epoch(0)))
    assert x.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("size, world", [(10, 3), (7, 2), (2, 4)])
def test_shard_sampler(size, world):
    test = [list(ShardSampler(size, shuffle=False, rank=r, world_size=world)) for r in range(world)]
    assert sorted(chain(*test)) == list(range(size))  # every sample exactly once
    train = [
        ShardSampler(size, shuffle=True, seed=3, rank=r, world_size=world) for r in range(world)
    ]
    for s in train:
        s.set_epoch(2)
    shares = [list(s) for s in train]
    assert len({len(s) for s in shares}) == 1 and set(chain(*shares)) == set(range(size))
    train[0].set_epoch(2, start=1)
    assert list(train[0]) == shares[0][1:]


def test_image_transform_for_in_memory_sets():
    from cnnzoo.data import DatasetInfo

    info = DatasetInfo("fashion-mnist", 10, 1, 28, tuple("abcdefghij"), (0.5,), (0.25,))
    image = Image.new("RGB", (40, 30), (255, 255, 255))
    x = image_transform(info)(image)
    assert x.shape == (1, 28, 28) and torch.allclose(x, torch.full_like(x, 2.0))
    assert image_transform(info, input_size=32)(image).shape == (1, 32, 32)


def test_links_to_itself_add_nothing_and_end_quickly(folder):
    cat = folder / "train" / "cat"
    for name in ("loop", "again"):  # os.walk(followlinks=True) walks 2^40 paths here
        os.symlink(".", cat / name)
    os.symlink("..", cat / "up")
    with deadline(10):
        ds = load_dataset("imagefolder", data_dir=folder, input_size=8)
    assert len(ds.train) == 6 and ds.info.class_names == ("cat", "dog")


def test_a_link_out_of_the_data_dir_is_refused(folder, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    write_png(outside / "x.png")
    os.symlink(outside / "x.png", folder / "train" / "cat" / "x.png")
    with pytest.raises(DataError, match=r"cat/x.png: resolves to a file outside"):
        load_dataset("imagefolder", data_dir=folder)


def test_a_class_folder_not_named_in_utf8_is_one_line(folder):
    name = os.fsencode(folder / "train") + b"/caf\xe9"  # latin-1 bytes
    os.mkdir(name)
    write_png(Path(os.fsdecode(name)) / "0.png")
    with pytest.raises(DataError) as err:
        load_dataset("imagefolder", data_dir=folder)
    assert (
        str(err.value) == f"{folder / 'train'}: the class folder b'caf\\xe9' is not named in "
        "UTF-8; rename it"
    )


def test_an_undecodable_image_mid_epoch_is_one_line_from_the_workers(folder, tmp_path, capsys):
    """Training reads the images in two DataLoader worker processes: the one that cannot be
    decoded (a PNG cut short: its header passes, its pixels do not) stops the run with one line."""
    png = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    Image.fromarray(noise).save(png, "PNG")
    bad = folder / "train" / "dog" / "bad.png"
    bad.write_bytes(png.getvalue()[:300])
    code = main(
        [
            "train",
            "lenet5",
            "--dataset",
            "imagefolder",
            "--data-dir",
            str(folder),
            "--input-size",
            "32",
            "--epochs",
            "1",
            "--batch-size",
            "2",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [
        f"cnnzoo train: error: {bad}: cannot be decoded (image file is truncated)"
    ]
