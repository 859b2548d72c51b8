"""Fixtures of the inspect tests: the shared lenet5 checkpoint (trained on the fake digits), a
ResNet-20 checkpoint of the same dataset with random weights and batch norms (residual blocks
for the receptive-field tests), and one inspect folder of the lenet5 checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fakedata import one_thread  # noqa: F401 (an autouse fixture)


@pytest.fixture(scope="session")
def resnet20_checkpoint(tmp_path_factory, lenet5_checkpoint) -> Path:
    """A resnet20 checkpoint for the fake digits: random weights, batch norms with random
    scales, shifts and statistics (so that every residual branch contributes)."""
    from cnnzoo.checkpoint import save_checkpoint
    from cnnzoo.registry import create_model
    from cnnzoo.source import read_record

    torch.manual_seed(0)
    model = create_model("resnet20", in_chans=1, num_classes=10)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("resnet20") / "best.pt"
    save_checkpoint(
        path,
        {
            "model_name": "resnet20",
            "model_kwargs": {"in_chans": 1, "num_classes": 10},
            "model": model.state_dict(),
            "dataset": read_record(str(lenet5_checkpoint)),
        },
    )
    return path


@pytest.fixture(scope="module")
def lenet5_views(tmp_path_factory, lenet5_checkpoint) -> dict:
    """``inspect`` of the lenet5 checkpoint: all 200 test images ranked, two shown."""
    from cnnzoo.inside.command import InspectConfig, inspect

    out = tmp_path_factory.mktemp("inspect") / "lenet5"
    config = InspectConfig(
        str(lenet5_checkpoint),
        test_images=2,
        layers=("features.act3", "features.s4", "features.act5"),
        top_from=None,
        channels=2,
        out=str(out),
    )
    return inspect(config)
