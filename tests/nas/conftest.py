"""Fixtures of the NAS tests: a fake MNIST folder for the searches, and a real, throw-away
PostgreSQL server for Optuna's shared storage."""

from __future__ import annotations

import atexit
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgserver import Server, add_password_login, find_binaries, start_server

from fakedata import write_fake_mnist

LOGIN_USER = "searcher"
LOGIN_PASSWORD = "Xq7-not-for-your-eyes"  # a test's own; any output showing it fails the test


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory) -> Path:
    return write_fake_mnist(tmp_path_factory.mktemp("mnist"), 400, 50)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    """A PostgreSQL server started for this test session.

    Skips only when PostgreSQL's server binaries are not installed (CI installs them through
    scripts/setup.sh). The server lives in a fresh ``tempfile.mkdtemp()`` folder, which the
    ``postgres`` user can reach when the tests run as root, and is stopped and removed at the end
    of the session, after a failure too, and at interpreter exit as a last resort.
    """
    if find_binaries() is None:
        pytest.skip(
            "PostgreSQL's server binaries (initdb, pg_ctl, postgres) are not installed: "
            "run 'apt-get install postgresql' as root (scripts/setup.sh does)"
        )
    server = start_server(Path(tempfile.mkdtemp(prefix="cnnzoo-pg-")))
    atexit.register(server.stop)  # a hard exit skips the finally below; stop() runs only once
    try:
        yield server
    finally:
        server.stop()
        atexit.unregister(server.stop)


@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    """SQLAlchemy URL of a database of the session's server (trust authentication)."""
    return postgres_server.url


@pytest.fixture(scope="session")
def postgres_login(postgres_server) -> tuple[str, str]:
    """``(URL without the password, password)`` of a database whose role must give
    :data:`LOGIN_PASSWORD` (SCRAM over TCP)."""
    return add_password_login(postgres_server, LOGIN_USER, LOGIN_PASSWORD), LOGIN_PASSWORD
