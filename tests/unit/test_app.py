"""``App``: its lifespan opens what handlers share before serving and closes it after the drain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

import interlink
from interlink import App, Service
from interlink.testing import unique


async def test_the_lifespan_wraps_serving_and_outlasts_in_flight_handlers() -> None:
    events: list[str] = []
    pool: dict[str, str] = {}
    svc = Service(unique("lifespan"))
    subject = unique("slow")
    started = asyncio.Event()

    @svc.endpoint(subject)
    async def slow(body: int) -> None:
        started.set()
        await asyncio.sleep(0.3)
        events.append(f"handled with {pool['db']}")

    @asynccontextmanager
    async def lifespan(bus: interlink.Bus) -> AsyncIterator[None]:
        events.append(f"enter {len(bus.instances)} instances")
        pool["db"] = "open"
        yield
        pool["db"] = "closed"
        events.append("exit")

    app = App("shop", services=[svc], lifespan=lifespan)
    async with interlink.connect(f"memory://{unique('app')}") as bus:
        async with app.running(bus, grace=5.0) as running:
            assert len(running) == 1 and [i.id for i in bus.instances] == [running[0].id]
            await bus.notify(subject, 1)
            await asyncio.wait_for(started.wait(), 5)
        # leaving waited for the handler in flight, then closed the pool
        assert events == ["enter 0 instances", "handled with open", "exit"]


async def test_without_a_lifespan_running_serves_and_stops() -> None:
    svc = Service(unique("plain"))

    @svc.endpoint(unique("echo"))
    async def echo(body: int) -> int:
        return body

    app = App("plain", services=[svc])
    assert app.lifespan is None
    async with interlink.connect(f"memory://{unique('app')}") as bus, app.running(bus) as running:
        assert await bus.request(svc.handlers[0].subject, 4, timeout=2) == 4
    assert running[0].stopped


async def test_a_failing_lifespan_serves_nothing() -> None:
    svc = Service(unique("never"))

    @svc.endpoint(unique("echo"))
    async def echo(body: int) -> int:
        return body

    @asynccontextmanager
    async def broken(bus: interlink.Bus) -> AsyncIterator[None]:
        raise ConnectionRefusedError("database down")
        yield

    async with interlink.connect(f"memory://{unique('app')}") as bus:
        with pytest.raises(ConnectionRefusedError, match="database down"):
            async with App("broken", services=[svc], lifespan=broken).running(bus):
                pass
        assert bus.instances == []
