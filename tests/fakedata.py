"""Test helpers shared by the training and export tests: a small, learnable fake MNIST in IDX files,
and one torch thread per test module.

Each class is a bright 8 x 8 square at its own place on a noisy 28 x 28 field, so a LeNet-5 learns
it in a few steps. The files use LeCun's names, so ``--dataset mnist --data-dir D`` reads them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

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
