"""Fixtures of the export tests: one thread, a small learnable fake MNIST, a lenet5 checkpoint."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from cnnzoo.data import write_idx

SIDE = 28


def fake_digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` uint8 28 x 28 images whose class is a bright square's place, and their labels."""
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
    """One thread: the machine has 2 cores shared with other jobs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def fake_mnist(tmp_path_factory) -> Path:
    """A data dir with 1,024 training and 200 test images of the fake digits."""
    return write_fake_mnist(tmp_path_factory.mktemp("fake-mnist"), 1024, 200)


@pytest.fixture(scope="session")
def lenet5_checkpoint(tmp_path_factory, fake_mnist) -> Path:
    """best.pt of lenet5 trained for one short epoch on the fake digits."""
    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.engine import run

    out = tmp_path_factory.mktemp("run") / "lenet5"
    before = torch.get_num_threads()
    run(TrainConfig("lenet5", dataset="mnist", data_dir=str(fake_mnist), epochs=1, batch_size=64,
                    out=str(out)), stream=io.StringIO())  # fmt: skip
    torch.set_num_threads(before)
    return out / "best.pt"
