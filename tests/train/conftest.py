"""Fixtures of the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakedata import one_thread, write_fake_mnist  # noqa: F401 (one_thread: an autouse fixture)


@pytest.fixture(scope="session")
def fake_mnist(tmp_path_factory) -> Path:
    """A data dir with 2,048 training and 256 test images of the fake digits."""
    return write_fake_mnist(tmp_path_factory.mktemp("fake-mnist"), 2048, 256)
