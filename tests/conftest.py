"""Shared fixtures: broker URLs, and the rule that under CI=true a missing broker fails the run."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# The machine's NATS, shared with other runs: the durable consumers tests create are removed by the
# server 15 minutes after their last member, so they do not pile up (nor keep events) run after run.
NpmInstaller = Callable[..., Path]

NATS_URL = "nats://127.0.0.1:4222?retention=900"


def require_broker(url: str, name: str) -> str:
    """Return ``url`` if its host:port answers; otherwise skip (fail under CI=true)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=2.0):
            return url
    except OSError as exc:
        message = f"{name} is not reachable at {parts.hostname}:{parts.port} ({exc})"
        if IN_CI:
            pytest.fail(message + " - under CI=true a missing broker is a failure")
        pytest.skip(message)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak", action="store_true", default=False,
        help="also run the long soak variants of the fault and cluster scenarios (marked 'soak')",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: a long variant of a scenario, run only with --soak")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="a long soak variant: run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


def _missing(what: str) -> None:
    message = f"{what} is not installed"
    if IN_CI:
        pytest.fail(message + " - under CI=true the interop tests need it")
    pytest.skip(message)


@pytest.fixture(scope="session")
def npm(tmp_path_factory: pytest.TempPathFactory) -> NpmInstaller:
    """Install npm packages (one folder per distinct set) and return that folder."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        _missing("Node.js (node and npm)")
    folders: dict[tuple[str, ...], Path] = {}

    def install(*packages: str) -> Path:
        key = tuple(sorted(packages))
        if key not in folders:
            name = "npm-" + hashlib.sha256(" ".join(key).encode()).hexdigest()[:12]
            folder = tmp_path_factory.mktemp(name)
            (folder / "package.json").write_text('{"name": "interlink-interop", "private": true}\n')
            subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", *key],
                cwd=folder, check=True, timeout=300, capture_output=True,
            )
            folders[key] = folder
        return folders[key]

    return install


@pytest.fixture(scope="session")
def own_nats_url() -> Iterator[str]:
    """A nats-server with JetStream of the session's own on a free port (fresh streams, nobody else's dead letters)."""
    from interlink._embedded import NatsServer

    server = NatsServer().start()
    yield server.url
    server.cleanup()
