"""The conformance suite against the machine's Redis (skipped without one; a failure under CI=true)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

import interlink
from interlink.testing import TransportConformance
from tests.conftest import require_broker

REDIS_URL = "redis://127.0.0.1:6379/0"
# Groups and streams of the suite's throwaway services lapse after ten minutes
# instead of the default week: the Redis is shared and long-lived.
SUITE_URL = REDIS_URL + "?retention=600"
_SUITE_NAME = re.compile(r"[a-z]+[0-9a-f]{10}\Z")  # interlink.testing.unique() names


class TestRedis(TransportConformance):
    @pytest.fixture
    async def broker_url(self) -> AsyncIterator[str]:
        url = require_broker(SUITE_URL, "Redis")
        yield url
        # dead letters of the suite's services would pile up in the shared Redis
        async with interlink.connect(url) as bus:
            letters = await bus.transport.dead_letters(limit=100_000)
            ours = {m.headers.get("il-id", "") for m in letters
                    if _SUITE_NAME.match(m.headers.get("il-dead-service", ""))}
            if ours:
                await bus.transport.remove_dead_letters(ours)
