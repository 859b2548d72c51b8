"""Fixtures of the export tests: one thread (the small fake MNIST and the lenet5 checkpoint
trained on it are shared with the bench tests, in ``tests/conftest.py``)."""

from __future__ import annotations

from fakedata import one_thread  # noqa: F401 (an autouse fixture)
