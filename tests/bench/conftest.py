"""Fixtures of the bench tests: a lenet5 checkpoint trained briefly on the fake digits, for the
judgement of variants on a checkpoint's test images."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from fakedata import write_fake_mnist


@pytest.fixture(scope="session")
def bench_checkpoint(tmp_path_factory) -> Path:
    """best.pt of lenet5 after one epoch on 1,024 fake digits (200 test images beside them)."""
    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.engine import run

    data = write_fake_mnist(tmp_path_factory.mktemp("fake-mnist"), 1024, 200)
    out = tmp_path_factory.mktemp("run") / "lenet5"
    before = torch.get_num_threads()
    run(TrainConfig("lenet5", dataset="mnist", data_dir=str(data), epochs=1, batch_size=64,
                    out=str(out)), stream=io.StringIO())  # fmt: skip
    torch.set_num_threads(before)
    return out / "best.pt"
