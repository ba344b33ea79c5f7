"""A served service on each broker and a raw client aimed at its channels.

NATS runs on a nats-server of this suite's own (so its dead-letter stream
holds only this suite's letters); RabbitMQ and Redis are the machine's, with
a prefix of this run's own, so names never meet another run's.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

import interlink
from interlink._logthrottle import THROTTLE
from interlink.testing import unique
from interlink.testing.conformance import eventually
from interlink.transports.base import Message
from tests.conftest import require_broker
from tests.wire._raw import RawNats, RawRabbit, RawRedis

BROKERS = ("nats", "rabbitmq", "redis")
RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/"
REDIS_URL = "redis://127.0.0.1:6379/0"
PREFIX = f"ilw{uuid.uuid4().hex[:6]}"
OPTIONS = {
    "rabbitmq": f"?prefix={PREFIX}&expires=600&dead_expires=600",
    "redis": f"?prefix={PREFIX}&retention=600",
}
_numbers = itertools.count(1_000_000)


def url_for(broker: str, nats_url: str) -> str:
    if broker == "nats":
        return nats_url
    return require_broker(RABBIT_URL if broker == "rabbitmq" else REDIS_URL, broker) + OPTIONS[broker]


@dataclass
class Served:
    """One instance of a service with a durable endpoint (also answering requests) and a subscription."""

    broker: str
    url: str
    bus: interlink.Bus
    raw: Any
    name: str
    subject: str
    topic: str
    got: list[Any] = field(default_factory=list)
    heard: list[Any] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # the reasons the dispatcher logged, newest last

    async def dead(self) -> list[Message]:
        return [m for m in await self.bus.transport.dead_letters(10_000)
                if m.headers.get("il-dead-service") == self.name]

    async def purge(self) -> None:
        await self.bus.transport.remove_dead_letters(None)

    def good_frame(self, subject: str, n: int) -> bytes:
        return msgspec.msgpack.encode((subject, {}, str(n).encode()))

    async def send_good(self) -> int:
        """A plain, header-less notification to the endpoint, sent with the raw client."""
        n = next(_numbers)
        if self.broker in ("nats", "rabbitmq"):
            await self.raw.send(self.subject, str(n).encode(), None)
        else:
            await self.raw.send(self.subject, self.good_frame(self.subject, n))
        return n

    async def publish_good(self) -> int:
        n = next(_numbers)
        subject = f"{self.topic}.x"
        if self.broker == "redis":
            await self.raw.publish(self.name, f"{self.topic}.*", self.good_frame(subject, n))
        else:
            await self.raw.publish(subject, str(n).encode(), None)
        return n

    async def alive(self, timeout: float = 20.0) -> None:
        """A good notification and a good publish sent now are both handled."""
        n, m = await self.send_good(), await self.publish_good()
        await eventually(lambda: n in self.got and m in self.heard, timeout,
                         state=lambda: (self.got[-3:], self.heard[-3:]))

    async def outcome(self, before: int, timeout: float = 20.0, channel: str = "endpoint",
                      may_answer: bool = False, refused: int = 0) -> str:
        """Wait until the last bad message was handled or dead-lettered (or, when it named a reply
        address, refused and answered there); which one. ``before``/``refused``: the handled and
        refused counts before it was sent."""
        seen = self.got if channel == "endpoint" else self.heard
        end = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < end:
            if len(seen) > before:
                return "handled"
            if may_answer and len(self.refused) > refused:
                await asyncio.sleep(0.2)  # the answer, or the dead letter if it cannot go out
                return "answered" if not await self.dead() else "dead-lettered"
            letters = await self.dead()
            if letters:
                assert all(m.headers.get("il-dead-reason") for m in letters), [m.headers for m in letters]
                return "dead-lettered"
            await asyncio.sleep(0.05)
        raise AssertionError(f"neither handled nor dead-lettered within {timeout}s")


def make_service(served: Served, *, ack_wait: float = 3.0) -> interlink.Service:
    svc = interlink.Service(served.name)

    @svc.endpoint(served.subject, max_attempts=2, backoff=0.01, ack_wait=ack_wait)
    async def note(n: int) -> int:
        served.got.append(n)
        return n

    @svc.subscribe(f"{served.topic}.*", max_attempts=2, backoff=0.01, ack_wait=ack_wait)
    async def heard(n: int) -> None:
        served.heard.append(n)

    return svc


async def open_raw(broker: str, url: str) -> Any:
    if broker == "nats":
        return await RawNats(url).start()
    if broker == "rabbitmq":
        return await RawRabbit(url.split("?")[0], PREFIX).start()
    return await RawRedis(url, PREFIX).start()


@pytest.fixture(params=BROKERS)
async def served(request: pytest.FixtureRequest, own_nats_url: str) -> AsyncIterator[Served]:
    broker = request.param
    url = url_for(broker, own_nats_url)
    bus = await interlink.connect(url).start()
    raw = await open_raw(broker, url)
    item = Served(broker, url, bus, raw, unique("wire"), unique("w"), unique("t"))
    watch = _Refusals(item)
    logging.getLogger("interlink").addHandler(watch)
    burst, THROTTLE.burst = THROTTLE.burst, 0  # every refusal counted here, so none may be held back
    try:
        await bus.serve(make_service(item))
        await item.purge()
        yield item
    finally:
        THROTTLE.burst = burst
        logging.getLogger("interlink").removeHandler(watch)
        with contextlib.suppress(Exception):  # the machine's Redis keeps a dead-letter stream forever
            await item.purge()
        await raw.close()
        await bus.close(grace=2.0)


class _Refusals(logging.Handler):
    """Keeps the reasons for which ``served``'s dispatcher refused a message."""

    def __init__(self, served: Served) -> None:
        super().__init__(logging.WARNING)
        self.prefix = f"{served.name}: rejected message"
        self.served = served

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith(self.prefix):
            self.served.refused.append(text)
