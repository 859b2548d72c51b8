"""Test helpers shared by the tests: a small, learnable fake MNIST in IDX files, a small folder in
the ILSVRC-2012 layout, and one torch thread per test module.

Each class is a bright 8 x 8 square at its own place on a noisy 28 x 28 field, so a LeNet-5 learns
it in a few steps. The files use LeCun's names, so ``--dataset mnist --data-dir D`` reads them.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnzoo.data import write_idx

SIDE = 28


def fake_digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` uint8 images N x 28 x 28 and their labels 0-9."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    labels = labels[torch.randperm(n, generator=g)]
    images = torch.randint(0, 60, (n, SIDE, SIDE), generator=g)
    for c in range(10):
        row, col = 2 + 8 * (c // 4), 2 + 6 * (c % 4)
        images[labels == c, row : row + 8, col : col + 8] += 150
    return images.clamp(0, 255).to(torch.uint8), labels.to(torch.uint8)


def write_fake_mnist(folder: Path, n_train: int, n_test: int) -> Path:
    """MNIST-named IDX files of :func:`fake_digits` in ``folder`` (train seed 0, test seed 1)."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = fake_digits(n, seed)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
    return folder


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One thread per test: these tiny models gain little from a second one, and on a shared
    2-core machine a busy core stalls OpenMP's two-thread barriers for far longer."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


WNIDS = [f"n{index:08d}" for index in range(1000)]  # devkit-style WordNet ids, sorted
PICKED = {3: 2, 517: 2, 998: 1}  # class index -> images of that class in the folder
SIZES = [(500, 375), (333, 500), (640, 480), (300, 300), (257, 511)]  # odd shapes: resize + crop


def write_ilsvrc(root, seed: int = 0, picked: dict[int, int] = PICKED) -> list[tuple[str, int]]:
    """``root/meta.bin`` (1000 WordNet ids and names) and ``root/val/<wnid>/*.JPEG``; returns each
    image's path and label."""
    root.mkdir(parents=True, exist_ok=True)
    names = {wnid: (f"class {index}", f"synonym {index}") for index, wnid in enumerate(WNIDS)}
    torch.save((names, []), root / "meta.bin")
    rng = np.random.default_rng(seed)
    images, shapes = [], itertools.cycle(SIZES)
    for label, count in picked.items():
        folder = root / "val" / WNIDS[label]
        folder.mkdir(parents=True)
        for k in range(count):
            width, height = next(shapes)
            # smooth colour gradients with noise: something a JPEG encoder has to work on
            y, x = np.mgrid[0:height, 0:width]
            base = np.stack(
                [x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)]
            )
            noise = rng.integers(0, 40, size=base.shape)
            pixels = np.clip(base + noise, 0, 255).astype(np.uint8).transpose(1, 2, 0)
            path = folder / f"ILSVRC2012_val_{label:05d}{k}.JPEG"
            Image.fromarray(pixels).save(path, quality=90)
            images.append((str(path), label))
    return images
