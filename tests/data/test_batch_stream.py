"""BatchStream: reproducible from (seed, epoch, step), resumable, sharded, augmenting correctly."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from cnnzoo.data import DEFAULT_AUGMENT, Augment, BatchStream, DatasetInfo, Split

MEAN, STD = 0.5, 0.25


def fake(n: int = 40, side: int = 8, chans: int = 1, seed: int = 0) -> tuple[Split, DatasetInfo]:
    """Random images; the label of sample i is i, so batches show which samples they hold."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, chans, side, side), dtype=torch.uint8, generator=g)
    info = DatasetInfo(
        "fake", n, chans, side, tuple(map(str, range(n))), (MEAN,) * chans, (STD,) * chans
    )
    return Split(images, torch.arange(n)), info


def raw(x: torch.Tensor) -> torch.Tensor:
    """Undo the normalisation: back to uint8 pixels."""
    return ((x * STD + MEAN) * 255).round().to(torch.uint8)


def epoch(stream: BatchStream, e: int, start_step: int = 0) -> list[tuple[torch.Tensor, ...]]:
    return list(stream.epoch(e, start_step))


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b, strict=True)
    )


def matching_augmentations(out: torch.Tensor, image: torch.Tensor, pad: int) -> set:
    """The (dy, dx, flip) whose crop of the zero-padded ``image`` equals ``out``."""
    side = image.shape[-1]
    padded = F.pad(image, (pad,) * 4)
    found = set()
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[:, dy : dy + side, dx : dx + side]
            found |= {
                (dy, dx, flip)
                for flip in (False, True)
                if torch.equal(crop.flip(-1) if flip else crop, out)
            }
    return found


@pytest.mark.parametrize("chans", [1, 3])
@pytest.mark.parametrize(
    "augment", [Augment(2, True), Augment(2, False), Augment(0, True), Augment(0, False)]
)
def test_every_image_is_an_allowed_crop_of_its_sample(augment, chans):
    split, info = fake(chans=chans)
    stream = BatchStream(
        split, info, batch_size=8, train=True, seed=1, device="cpu", augment=augment
    )
    used = set()
    for e in range(3):
        for x, y in stream.epoch(e):
            assert x.dtype == torch.float32 and x.shape == (8, chans, 8, 8)
            assert y.dtype == torch.int64
            for out, label in zip(raw(x), y, strict=True):
                found = matching_augmentations(
                    out, split.images[label], augment.random_crop_padding
                )
                assert found, "not a crop of its own sample"
                used |= found
    pad = augment.random_crop_padding
    assert {dy for dy, _, _ in used} == set(range(2 * pad + 1))  # every offset occurs
    assert {dx for _, dx, _ in used} == set(range(2 * pad + 1))
    flips = {flip for _, _, flip in used}
    assert flips == ({False, True} if augment.hflip else {False})  # mirrored only where allowed


def test_pure_function_of_seed_epoch_and_step():
    split, info = fake()

    def make(seed: int) -> BatchStream:
        return BatchStream(
            split, info, batch_size=8, train=True, seed=seed, device="cpu", augment=Augment(2, True)
        )

    a, b = make(7), make(7)
    assert same(epoch(a, 3), epoch(b, 3))
    assert same(epoch(a, 3), epoch(a, 3))  # nothing carried over between calls
    assert not same(epoch(a, 3), epoch(a, 4))
    assert not same(epoch(a, 3), epoch(make(8), 3))
    # An epoch's order is a permutation: each sample once (40 = 5 full batches of 8).
    assert sorted(torch.cat([y for _, y in epoch(a, 0)]).tolist()) == list(range(40))


def flips_by_sample(stream: BatchStream, e: int, images: torch.Tensor) -> dict[int, bool]:
    """Whether epoch ``e`` mirrors each sample (pad 0: the output is the image or its mirror)."""
    return {
        int(label): not torch.equal(out, images[label])
        for x, y in stream.epoch(e)
        for out, label in zip(raw(x), y, strict=True)
    }


def test_alternate_flip_mirrors_each_image_in_every_other_epoch():
    split, info = fake(n=400)
    images = split.images  # random pixels: no image equals its mirror image

    def make(alternate: bool, pad: int = 0) -> BatchStream:
        augment = Augment(pad, True, alternate_flip=alternate)
        return BatchStream(
            split, info, batch_size=8, train=True, seed=3, device="cpu", augment=augment
        )

    alternating, random = make(True), make(False)
    first = flips_by_sample(alternating, 0, images)
    assert first == flips_by_sample(random, 0, images)  # epoch 0: the random mode's flips
    assert 150 < sum(first.values()) < 250  # a random half
    for e in (1, 2, 3):
        flips = flips_by_sample(alternating, e, images)
        assert flips == {n: flip ^ bool(e % 2) for n, flip in first.items()}
    assert flips_by_sample(random, 1, images) != {n: not f for n, f in first.items()}
    # Only the flips change: the order and the crops are the random mode's.
    for e in (0, 1):
        for (x, y), (x2, y2) in zip(make(True, 2).epoch(e), make(False, 2).epoch(e), strict=True):
            assert torch.equal(y, y2)
            for out, out2 in zip(raw(x), raw(x2), strict=True):
                assert torch.equal(out, out2) or torch.equal(out, out2.flip(-1))


def test_resume_at_start_step_gives_the_remaining_batches():
    split, info = fake()
    stream = BatchStream(
        split, info, batch_size=6, train=True, seed=2, device="cpu", augment=Augment(2, True)
    )
    full = epoch(stream, 5)
    assert len(full) == stream.num_batches() == 6  # 40 // 6, the short batch dropped
    fresh = BatchStream(
        split, info, batch_size=6, train=True, seed=2, device="cpu", augment=Augment(2, True)
    )
    assert same(epoch(fresh, 5, start_step=4), full[4:])
    assert epoch(fresh, 5, start_step=6) == []
    with pytest.raises(ValueError, match=r"start_step must be in 0 \.\. 6"):
        fresh.epoch(5, start_step=7)


def test_rank_shards_are_equal_disjoint_and_cover_the_set():
    split, info = fake(n=40)
    streams = [
        BatchStream(
            split,
            info,
            batch_size=4,
            train=True,
            seed=3,
            device="cpu",
            rank=r,
            world_size=3,
            drop_last=False,
        )
        for r in range(3)
    ]
    assert {s.num_batches() for s in streams} == {4}  # ceil(40 / 3) = 14 each: 4 + 4 + 4 + 2
    seen = torch.cat([y for s in streams for _, y in s.epoch(1)])
    assert len(seen) == 42 and set(seen.tolist()) == set(range(40))  # 2 padding repeats
    counts = torch.bincount(seen)
    assert int((counts > 1).sum()) == 2 and int(counts.max()) == 2


def test_ranks_together_see_the_single_process_batches():
    split, info = fake(n=40)
    single = BatchStream(
        split, info, batch_size=8, train=True, seed=4, device="cpu", augment=Augment(2, True)
    )
    ranks = [
        BatchStream(
            split,
            info,
            batch_size=4,
            train=True,
            seed=4,
            device="cpu",
            rank=r,
            world_size=2,
            augment=Augment(2, True),
        )
        for r in range(2)
    ]
    assert single.num_batches() == ranks[0].num_batches() == 5
    for (x, y), *parts in zip(single.epoch(2), *(r.epoch(2) for r in ranks), strict=True):
        x2 = torch.cat([p[0] for p in parts])
        y2 = torch.cat([p[1] for p in parts])
        order, order2 = y.argsort(), y2.argsort()
        assert torch.equal(y[order], y2[order2])
        assert torch.equal(x[order], x2[order2])  # the same augmentation, too


def test_test_stream_sees_every_sample_once_unaugmented():
    split, info = fake(n=40)
    info = replace(info, name="fashion-mnist")  # a name with a default augmentation
    streams = [
        BatchStream(
            split, info, batch_size=6, train=False, seed=0, device="cpu", rank=r, world_size=3
        )
        for r in range(3)
    ]
    assert [s.num_batches() for s in streams] == [3, 3, 3]  # 14, 13, 13 samples
    assert [len(y) for y in (y for _, y in streams[1].epoch(0))] == [6, 6, 1]
    labels = []
    for stream in streams:
        assert stream.augment == Augment()
        for x, y in stream.epoch(0):
            assert torch.equal(raw(x), split.images[y])
            labels += y.tolist()
    assert sorted(labels) == list(range(40))
    assert next(y.tolist() for _, y in streams[0].epoch(0)) == [0, 3, 6, 9, 12, 15]


def test_normalisation():
    images = torch.full((2, 1, 4, 4), 255, dtype=torch.uint8)
    info = DatasetInfo("x", 2, 1, 4, ("a", "b"), (0.2,), (0.4,))
    x, _ = next(
        BatchStream(
            Split(images, torch.arange(2)), info, batch_size=2, train=False, seed=0, device="cpu"
        ).epoch(0)
    )
    assert torch.allclose(x, torch.full_like(x, (1 - 0.2) / 0.4))


def test_resize_and_channels_last():
    split, info = fake(chans=3)
    kwargs = dict(batch_size=8, train=True, seed=5, device="cpu", augment=Augment(2, True))
    native = epoch(BatchStream(split, info, **kwargs), 0)
    big = epoch(BatchStream(split, info, input_size=12, channels_last=True, **kwargs), 0)
    x, y = big[0]
    assert x.shape == (8, 3, 12, 12) and x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, native[0][1])
    expected = F.interpolate(native[0][0], size=(12, 12), mode="bilinear", antialias=True)
    assert torch.allclose(x, expected, atol=1e-6)


def test_shrinking_is_antialiased():
    split, info = fake(side=12)
    x, _ = next(
        BatchStream(
            split, info, batch_size=8, train=False, seed=0, device="cpu", input_size=5
        ).epoch(0)
    )
    native = (split.images[:8].float() / 255 - MEAN) / STD
    expected = F.interpolate(native, size=(5, 5), mode="bilinear", antialias=True)
    assert torch.allclose(x, expected, atol=1e-5)


@pytest.mark.parametrize("size, before, after", [(12, 2, 2), (11, 1, 2)])
def test_pad_mode_centres_the_image_in_a_field_of_zeros(size, before, after):
    split, info = fake()
    test = BatchStream(
        split,
        info,
        batch_size=40,
        train=False,
        seed=0,
        device="cpu",
        input_size=size,
        resize_mode="pad",
    )
    x, y = next(test.epoch(0))
    assert x.shape == (40, 1, size, size)
    assert torch.equal(raw(x), F.pad(split.images, (before, after, before, after)))
    train = BatchStream(
        split,
        info,
        batch_size=8,
        train=True,
        seed=0,
        device="cpu",
        input_size=size,
        resize_mode="pad",
        augment=Augment(2, True),
    )
    for x, y in train.epoch(0):
        for out, label in zip(raw(x), y, strict=True):
            field = F.pad(split.images[label], (before, after, before, after))
            assert matching_augmentations(out, field, 2)
    with pytest.raises(ValueError, match="cannot shrink 8 x 8 images to 6"):
        BatchStream(
            split,
            info,
            batch_size=8,
            train=True,
            seed=0,
            device="cpu",
            input_size=6,
            resize_mode="pad",
        )


def test_default_augmentation_per_dataset():
    assert DEFAULT_AUGMENT["mnist"] == Augment(random_crop_padding=2, hflip=False)
    assert DEFAULT_AUGMENT["emnist-letters"].hflip is False
    assert DEFAULT_AUGMENT["fashion-mnist"] == Augment(random_crop_padding=2, hflip=True)
    assert DEFAULT_AUGMENT["cifar10"] == Augment(random_crop_padding=4, hflip=True)
    split, info = fake()
    digits = replace(info, name="mnist")
    stream = BatchStream(split, digits, batch_size=4, train=True, seed=0, device="cpu")
    assert stream.augment == DEFAULT_AUGMENT["mnist"]
    assert BatchStream(split, info, batch_size=4, train=True, seed=0, device="cpu").augment == (
        Augment()
    )


def test_bad_arguments():
    split, info = fake()
    with pytest.raises(ValueError, match="rank must be in"):
        BatchStream(
            split, info, batch_size=4, train=True, seed=0, device="cpu", rank=2, world_size=2
        )
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        BatchStream(split, info, batch_size=0, train=True, seed=0, device="cpu")
    with pytest.raises(ValueError, match="seed must be >= 0"):
        BatchStream(split, info, batch_size=4, train=True, seed=-1, device="cpu")
    rgb = DatasetInfo("x", 2, 3, 8, ("a", "b"), (0.5,) * 3, (0.2,) * 3)
    with pytest.raises(ValueError, match="images have 1 channels, info says 3"):
        BatchStream(split, rgb, batch_size=4, train=True, seed=0, device="cpu")
    with pytest.raises(ValueError, match="random_crop_padding must be >= 0"):
        Augment(random_crop_padding=-1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_equal_cpu_batches():
    split, info = fake(chans=3)
    kwargs = dict(batch_size=8, train=True, seed=6, augment=Augment(2, True))
    cpu = epoch(BatchStream(split, info, device="cpu", **kwargs), 1)
    cuda = epoch(BatchStream(split, info, device="cuda", **kwargs), 1)
    assert all(x.is_cuda for x, _ in cuda)
    assert same(cpu, [(x.cpu(), y.cpu()) for x, y in cuda])
