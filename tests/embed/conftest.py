"""A LeNet-5 trained for one epoch on the real Fashion-MNIST (87 % test top-1, about 5 s), shared by
the embedding tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def trained_lenet5(tmp_path_factory) -> str:
    """The ``best.pt`` of a one-epoch LeNet-5 run on Fashion-MNIST."""
    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.engine import run

    out = tmp_path_factory.mktemp("lenet5-run")
    run(TrainConfig("lenet5", dataset="fashion-mnist", epochs=1, out=str(out)))
    return str(out / "best.pt")
