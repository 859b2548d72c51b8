"""Small fake dataset files, written in ``tmp_path`` by the data tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnzoo.data import write_idx
from cnnzoo.data.mnist import MNIST_FILES


def fake_idx_files(
    folder: Path,
    *,
    files=MNIST_FILES,
    train: int = 12,
    test: int = 6,
    side: int = 28,
    num_classes: int = 10,
    gz: bool = True,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Write random IDX image and label files named ``files`` into ``folder``; return the data."""
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    data = {
        files[0]: torch.randint(0, 256, (train, side, side), dtype=torch.uint8, generator=g),
        files[1]: torch.arange(train, dtype=torch.uint8) % num_classes,
        files[2]: torch.randint(0, 256, (test, side, side), dtype=torch.uint8, generator=g),
        files[3]: torch.arange(test, dtype=torch.uint8) % num_classes,
    }
    for name, array in data.items():
        write_idx(folder / (f"{name}.gz" if gz else name), array)
    return data


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    """A directory with small gzipped MNIST-style IDX files (12 train, 6 test images)."""
    fake_idx_files(tmp_path / "mnist-files")
    return tmp_path / "mnist-files"


@pytest.fixture
def idx_files():
    """The writer :func:`fake_idx_files`, for tests that need other names or sizes."""
    return fake_idx_files
