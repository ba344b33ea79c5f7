"""pytest plugin: fixtures for testing interlink services (registered automatically).

``interlink_bus``      a bus with a :class:`~interlink.testing.Harness` open on it: on a fresh
                       in-memory broker, or on the broker given by ``--interlink-broker URL`` /
                       ``INTERLINK_TEST_BROKER`` with this test's subjects and service groups
                       under a prefix of its own (dead letters it caused are removed after it).
``interlink_harness``  that harness: ``await interlink_harness.settled()``, ``.published(...)``.
``interlink_broker``   the broker URL the two use.
``memory_bus``         a plain bus on a fresh in-memory broker (no harness).

The async fixtures are declared with ``pytest_asyncio.fixture`` when pytest-asyncio is
installed, so they work in its strict mode (tests marked ``@pytest.mark.asyncio``) and in
auto mode alike; without it they are plain async fixtures, which anyio's pytest plugin
runs for tests marked ``@pytest.mark.anyio``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import interlink
from interlink.testing._harness import Harness
from interlink.testing._names import unique

ENV_BROKER = "INTERLINK_TEST_BROKER"

try:
    import pytest_asyncio

    _async_fixture: Callable[..., Any] = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - exercised by the no-pytest-asyncio run
    _async_fixture = pytest.fixture


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("interlink")
    group.addoption("--interlink-broker", default=None, metavar="URL",
                    help=f"run the interlink_bus tests on this broker (default: ${ENV_BROKER}, else memory://)")


@pytest.fixture
def interlink_broker(request: pytest.FixtureRequest) -> str:
    """The broker URL of this test: --interlink-broker, else $INTERLINK_TEST_BROKER, else a fresh memory://."""
    url = request.config.getoption("--interlink-broker") or os.environ.get(ENV_BROKER)
    return str(url) if url else f"memory://{unique('test')}"


@_async_fixture
async def _interlink_pair(interlink_broker: str) -> AsyncIterator[tuple[interlink.Bus, Harness]]:
    shared = not interlink_broker.startswith("memory://")
    async with interlink.connect(interlink_broker, name=unique("test")) as bus, \
            Harness(bus, prefix=unique("t") if shared else None) as harness:
        yield bus, harness


@pytest.fixture
def interlink_bus(_interlink_pair: tuple[interlink.Bus, Harness]) -> interlink.Bus:
    """A bus for this test, watched by ``interlink_harness`` (serve your services on it)."""
    return _interlink_pair[0]


@pytest.fixture
def interlink_harness(_interlink_pair: tuple[interlink.Bus, Harness]) -> Harness:
    """The harness watching ``interlink_bus``."""
    return _interlink_pair[1]


@_async_fixture
async def memory_bus() -> AsyncIterator[interlink.Bus]:
    """A bus on a fresh in-memory broker of its own."""
    async with interlink.connect(f"memory://{unique('bus')}") as bus:
        yield bus
