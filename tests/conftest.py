"""Fixtures shared by several test folders: a small learnable fake MNIST and a lenet5 checkpoint
trained on it (bench and export judge their variants on its test images)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch

from fakedata import write_fake_mnist


def worker_threads(cores: int, workers: int) -> int:
    """Torch threads of one test process: the cores shared among the worker processes (pytest-xdist
    runs ``workers`` of them; 1 without it), at most 2 (the suite is sized for 2 cores)."""
    return max(1, min(2, cores // max(1, workers)))


def pytest_configure(config):
    # More threads than cores only adds contention, and two processes of two threads on two cores
    # run several times slower than one thread each.
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    threads = worker_threads(len(os.sched_getaffinity(0)), workers)
    torch.set_num_threads(threads)
    # Commands the tests start inherit it, unless a test sets their threads itself.
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


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
    run(
        TrainConfig(
            "lenet5",
            dataset="mnist",
            data_dir=str(fake_mnist),
            epochs=1,
            batch_size=64,
            out=str(out),
        ),
        stream=io.StringIO(),
    )
    torch.set_num_threads(before)
    return out / "best.pt"
