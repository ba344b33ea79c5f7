"""The conformance suite against the machine's Redis (skipped without one; a failure under CI=true)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

import interlink
from interlink.testing import TransportConformance
from interlink.transports.redis import RedisTransport
from interlink.transports.redis._frames import decode_message
from tests.conftest import require_broker

REDIS_URL = "redis://127.0.0.1:6379/0"
# The suite's keys live under their own prefix and lapse after ten minutes
# instead of the default week: the Redis is shared and long-lived.
SUITE_URL = REDIS_URL + "?prefix=iltest&retention=600"
_SUITE_NAME = re.compile(r"[a-z]+[0-9a-f]{10}\Z")  # interlink.testing.unique() names
_DROP_IF_EMPTY = "if redis.call('XLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) end"


class TestRedis(TransportConformance):
    @pytest.fixture
    async def broker_url(self) -> AsyncIterator[str]:
        url = require_broker(SUITE_URL, "Redis")
        yield url
        # dead letters of the suite's services (some without a message id) would pile up in the shared Redis
        async with interlink.connect(url) as bus:
            transport = bus.transport
            assert isinstance(transport, RedisTransport)
            key = transport.keys.dead
            entries = await transport.link.call("XRANGE", key, "-", "+")
            ours = [entry_id for entry_id, fields in entries
                    if _SUITE_NAME.match(decode_message(fields[1])[1].get("il-dead-service", ""))]
            if ours:
                await transport.link.call("XDEL", key, *ours)
            await transport.link.call("EVAL", _DROP_IF_EMPTY, 1, key)
