"""What the parts of the conformance suite share: the fixture, waiting helpers, a test body type."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import pytest

import interlink
from interlink.testing._names import unique
from interlink.transports.base import Message

Connect = Callable[..., Awaitable[interlink.Bus]]


class Point(msgspec.Struct):
    x: int
    y: int


def counting_service() -> tuple[interlink.Service, str, list[int]]:
    """A service of a fresh name with one endpoint on a fresh subject that keeps the int bodies it gets."""
    svc = interlink.Service(unique("svc"))
    subject = unique()
    got: list[int] = []

    @svc.endpoint(subject)
    async def note(n: int) -> None:
        got.append(n)

    return svc, subject, got


async def eventually(check: Callable[[], bool], timeout: float = 10.0,
                     state: Callable[[], object] | None = None) -> None:
    """Wait until ``check()`` is true; fail the test after ``timeout`` seconds, showing ``state()`` if given."""
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time" + (f"; state: {state()!r}" if state else ""))
        await asyncio.sleep(0.01)


async def eventually_async(refresh: Callable[[], Awaitable[None]], check: Callable[[], bool],
                           timeout: float = 10.0) -> None:
    """Like eventually, awaiting ``refresh()`` before each check."""
    end = time.monotonic() + timeout
    while True:
        await refresh()
        if check():
            return
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def dead_letters_of(bus: interlink.Bus, service: str) -> list[Message]:
    """The dead letters ``service`` left, oldest first."""
    return [m for m in await bus.transport.dead_letters(10_000) if m.headers.get("il-dead-service") == service]


class Suite:
    """What every part of the suite shares: the ``connect`` fixture (a factory of buses on
    ``broker_url``, closed after the test) and the durability check."""

    pytestmark = [pytest.mark.asyncio]

    @pytest.fixture
    async def connect(self, broker_url: str) -> AsyncIterator[Connect]:
        buses: list[interlink.Bus] = []

        async def make(**options: Any) -> interlink.Bus:
            bus = await interlink.connect(broker_url, **options).start()
            buses.append(bus)
            return bus

        yield make
        for bus in reversed(buses):
            await bus.close(grace=2.0)

    def _needs_durable(self, bus: interlink.Bus) -> None:
        if not bus.transport.durable:
            pytest.skip(f"{type(bus.transport).__name__} is not durable")
