"""Fixtures: a real supervisord-lite daemon on a short private socket path, and clients for it.

This directory is not a package (no __init__.py): pytest puts it first on sys.path, so the tests
and the children they start (which get the caller's sys.path) import `slc_helpers` by name.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from slc_daemon import Daemon
from supervisord_lite_client import Client, set_default_client


def _short_dir() -> Path:
    # A Unix socket path must fit in 108 bytes: pytest's tmp_path may not.
    return Path(tempfile.mkdtemp(prefix="slc-"))


def daemon_in_a_short_dir(*extra: str) -> Iterator[Daemon]:
    """A daemon (started with the `serve` options `extra`) in a new short directory; stopped and
    removed when the generator ends."""
    directory = _short_dir()
    d = Daemon(directory, *extra)
    yield d
    d.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def daemon() -> Iterator[Daemon]:
    yield from daemon_in_a_short_dir()


@pytest.fixture
def own_daemon() -> Iterator[Daemon]:
    """A daemon of this test's own (for tests that stop it)."""
    yield from daemon_in_a_short_dir()


@pytest.fixture
def client(daemon: Daemon) -> Iterator[Client]:
    with daemon.client() as c:
        yield c


@pytest.fixture
def short_dir() -> Iterator[Path]:
    directory = _short_dir()
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_default_client_leak() -> Iterator[None]:
    yield
    set_default_client(None)
