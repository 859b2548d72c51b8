"""Fixtures of the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from trainutil import write_fake_mnist


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One thread per test: these tiny models gain little from a second one, and on a shared
    2-core machine a busy core stalls OpenMP's two-thread barriers for far longer."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def fake_mnist(tmp_path_factory) -> Path:
    """A data dir with 2,048 training and 256 test images of the fake digits."""
    return write_fake_mnist(tmp_path_factory.mktemp("fake-mnist"), 2048, 256)
