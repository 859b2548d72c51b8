"""ScheduledDropPath through the training engine: the model contract's progress hook drives it."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.models.nasnet import ScheduledDropPath
from cnnzoo.train import TrainConfig, run
from fakedata import write_fake_mnist


def test_cnnzoo_train_applies_scheduled_drop_path(tmp_path, monkeypatch) -> None:
    """NASNet-A Large (drop_path_prob 0.3, the TF-slim large config) for 2 epochs of 2 steps: the
    drop probability of every cell rises linearly with the fraction of training done (the paper's
    ScheduledDropPath), and whole samples are dropped once it is above 0."""
    calls: list[tuple[float, float, float, float]] = []  # progress, drop_prob, p, dropped share
    forward = ScheduledDropPath.forward

    def spy(self: ScheduledDropPath, x: torch.Tensor) -> torch.Tensor:
        y = forward(self, x)
        if self.training:
            dropped = (y.flatten(1).abs().sum(1) == 0).float().mean().item()
            calls.append((float(self.progress), self.drop_prob, self.current_prob, dropped))
        return y

    monkeypatch.setattr(ScheduledDropPath, "forward", spy)
    data = write_fake_mnist(tmp_path / "data", 16, 8)  # each epoch also evaluates the test split
    config = TrainConfig(
        "nasnet_a_large",
        dataset="mnist",
        data_dir=str(data),
        epochs=2,
        batch_size=8,
        subset=16,
        out=str(tmp_path / "run"),
        checkpoint_every=0,
        warmup_epochs=0,
        lr=0.01,
    )
    run(config)

    progress = list(dict.fromkeys(c[0] for c in calls))  # in the order the steps ran
    assert progress == [0.0, 0.25, 0.5, 0.75]  # set before each of the 4 steps
    assert max(c[1] for c in calls) == pytest.approx(0.3)  # the last cell's probability
    for step_progress, drop_prob, p, _ in calls:
        assert p == pytest.approx(drop_prob * step_progress)
    assert all(c[3] == 0.0 for c in calls if c[0] == 0.0)  # nothing dropped at the start
    late = [c[3] for c in calls if c[0] == 0.75]
    assert sum(late) > 0  # samples dropped at the end
