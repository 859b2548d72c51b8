"""calibration_batches: training images only, normalised, deterministic, checked against the
model's channels and classes."""

from __future__ import annotations

import pytest
import torch

import cnnzoo.export.calibration as calibration
from cnnzoo.data import Dataset, DatasetInfo, Split
from cnnzoo.export.calibration import calibration_batches


class Untouchable:
    """A test split that fails the test if anything reads it."""

    def __getattr__(self, name):
        raise AssertionError(f"the test split was read ({name})")

    def __len__(self):
        raise AssertionError("the test split was read (len)")

    def __getitem__(self, index):
        raise AssertionError("the test split was read (getitem)")


def fake_dataset(n: int = 100) -> Dataset:
    images = torch.full((n, 1, 8, 8), 255, dtype=torch.uint8)
    labels = torch.arange(n) % 10
    info = DatasetInfo("fake", 10, 1, 8, tuple(str(i) for i in range(10)), (0.5,), (0.25,))
    return Dataset(info, Split(images, labels), Untouchable())


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(calibration, "load_dataset", lambda name, **kw: fake_dataset())


def test_reads_only_the_training_split(fake):
    batches = calibration_batches(
        "fake", data_dir=None, input_size=None, num_images=40, batch_size=16
    )
    assert [b.shape for b in batches] == [(16, 1, 8, 8), (16, 1, 8, 8), (8, 1, 8, 8)]
    assert all(b.dtype == torch.float32 for b in batches)
    # (255 / 255 - 0.5) / 0.25 = 2: normalised with the dataset's statistics
    assert torch.allclose(torch.cat(batches), torch.tensor(2.0))


def test_resizes_and_takes_at_most_the_split(fake):
    batches = calibration_batches(
        "fake", data_dir=None, input_size=12, num_images=1000, batch_size=64
    )
    assert sum(len(b) for b in batches) == 100 and batches[0].shape[-2:] == (12, 12)


def test_own_normalisation(fake):
    (batch,) = calibration_batches(
        "fake", data_dir=None, input_size=None, num_images=4, mean=(0.0,), std=(1.0,)
    )
    assert torch.allclose(batch, torch.tensor(1.0))


@pytest.mark.parametrize(
    ("kw", "what"), [({"in_chans": 3}, "channels"), ({"num_classes": 1000}, "classes")]
)
def test_refuses_a_dataset_that_does_not_fit(fake, kw, what):
    with pytest.raises(ValueError, match=f"fake has .* {what}; the model has"):
        calibration_batches("fake", data_dir=None, input_size=None, **kw)


def test_real_files_deterministic_sample(fake_mnist):
    args = {"data_dir": str(fake_mnist), "input_size": 32, "num_images": 64, "batch_size": 32}
    first = calibration_batches("mnist", **args)
    assert torch.equal(torch.cat(first), torch.cat(calibration_batches("mnist", **args)))
    other = calibration_batches("mnist", **args, seed=1)
    assert not torch.equal(torch.cat(first), torch.cat(other))
    assert first[0].shape == (32, 1, 32, 32)
