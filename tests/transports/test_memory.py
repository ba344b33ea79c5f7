"""memory:// specifics: requests handled in the requester's task, and what that must not change."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest

import interlink
from interlink import Context, Service
from interlink.testing import unique

_seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="")


async def connect() -> interlink.Bus:
    return await interlink.connect(f"memory://{unique('mem')}").start()


def sleeper() -> tuple[Service, str]:
    """A service whose one slot sleeps as long as it is asked to."""
    svc = Service(unique("svc"))
    subject = unique()

    @svc.endpoint(subject, max_concurrency=1)
    async def slow(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    return svc, subject


async def test_a_handler_that_suspends_times_out_and_the_member_recovers() -> None:
    svc, subject = sleeper()
    bus = await connect()
    try:
        await bus.serve(svc)
        with pytest.raises(interlink.RequestTimeout):
            await bus.request(subject, 1.0, timeout=0.05)
        assert await bus.request(subject, 0.0) == 0.0  # the one slot is free again
        [info] = bus.local_services()
        assert info.endpoints[0].in_flight == 0
    finally:
        await bus.close()


async def test_a_cancelled_requester_leaves_nothing_behind() -> None:
    svc, subject = sleeper()
    bus = await connect()
    try:
        await bus.serve(svc)
        caller = asyncio.ensure_future(bus.request(subject, 5.0))
        await asyncio.sleep(0.02)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert await bus.request(subject, 0.0, timeout=1.0) == 0.0
    finally:
        await bus.close()


async def test_what_a_handler_enters_belongs_to_its_own_handling() -> None:
    svc = Service(unique("svc"))
    subject, inner = unique(), unique()

    @svc.endpoint(inner)
    async def never(_: Any) -> None:
        await asyncio.sleep(5)

    @svc.endpoint(subject)
    async def bounded(_: Any, ctx: Context) -> str:
        _seen.set("handler")
        try:
            async with asyncio.timeout(0.05):  # bound to the task the handler runs in
                await ctx.request(inner, None, timeout=5.0)
        except TimeoutError:
            return "gave up in time"
        return "answered"

    bus = await connect()
    try:
        await bus.serve(svc)
        assert await bus.request(subject, None, timeout=2.0) == "gave up in time"
        assert _seen.get() == ""  # the handler's context variables stay in its handling
    finally:
        await bus.close()


async def test_the_concurrency_limit_queues_what_is_over_it() -> None:
    svc = Service(unique("svc"))
    subject = unique()
    running = 0
    most = 0

    @svc.endpoint(subject, max_concurrency=2)
    async def count(n: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return n

    bus = await connect()
    try:
        await bus.serve(svc)
        assert await asyncio.gather(*(bus.request(subject, n) for n in range(10))) == list(range(10))
        assert most == 2
    finally:
        await bus.close()


async def test_deeply_nested_requests_do_not_exhaust_the_stack() -> None:
    svc = Service(unique("svc"))
    subject = unique()

    @svc.endpoint(subject)
    async def down(n: int, ctx: Context) -> int:
        return 0 if n == 0 else 1 + await ctx.request(subject, n - 1)

    bus = await connect()
    try:
        await bus.serve(svc)
        # past the depth handled in the requester's task, the rest go through workers (each holds a slot)
        assert await bus.request(subject, 50, timeout=10.0) == 50
    finally:
        await bus.close()


async def test_stopping_waits_for_requests_handled_in_their_requesters_tasks() -> None:
    svc = Service(unique("svc"))
    subject = unique()
    finished: list[int] = []

    @svc.endpoint(subject)
    async def slow(n: int) -> int:
        await asyncio.sleep(0.1)
        finished.append(n)
        return n

    bus = await connect()
    try:
        instance = await bus.serve(svc)
        caller = asyncio.ensure_future(bus.request(subject, 1))
        await asyncio.sleep(0.02)
        await instance.stop()
        assert finished == [1]
        assert await caller == 1
    finally:
        await bus.close()


async def test_a_loop_of_answered_requests_lets_other_tasks_run() -> None:
    svc = Service(unique("svc"))
    subject = unique()

    @svc.endpoint(subject)
    async def echo(n: int) -> int:
        return n

    ticks = 0

    async def other() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    bus = await connect()
    try:
        await bus.serve(svc)
        task = asyncio.ensure_future(other())
        await asyncio.sleep(0)
        before = ticks
        for n in range(1000):
            assert await bus.request(subject, n) == n
        assert ticks > before
        task.cancel()
    finally:
        await bus.close()
