"""pytest plugin: fixtures for testing interlink services."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import interlink
from interlink.testing._names import unique


@pytest.fixture
async def memory_bus() -> AsyncIterator[interlink.Bus]:
    """A bus on a fresh in-memory broker of its own."""
    async with interlink.connect(f"memory://{unique('bus')}") as bus:
        yield bus
