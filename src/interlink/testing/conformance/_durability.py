"""At-least-once: kept while down, retries, dead letters, idempotency."""

from __future__ import annotations

import asyncio
from typing import Any

import interlink
from interlink import Context, Service
from interlink.testing._names import unique
from interlink.testing.conformance._support import (
    Connect,
    Suite,
    counting_service,
    dead_letters_of,
    eventually,
    eventually_async,
)
from interlink.transports.base import Message


class DurabilitySuite(Suite):
    async def test_message_for_a_stopped_service_is_kept(self, connect: Connect) -> None:
        svc, subject, got = counting_service()

        sender, server = await connect(), await connect()
        self._needs_durable(sender)
        instance = await server.serve(svc)  # declares the durable channel
        await instance.stop()
        for n in range(5):
            await sender.notify(subject, n)
        await asyncio.sleep(0.2)
        assert got == []
        await server.serve(svc)
        await eventually(lambda: sorted(got) == [0, 1, 2, 3, 4])

    async def test_failure_is_retried_then_dead_lettered(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        s_flaky, s_poison = unique(), unique()
        attempts: list[int] = []
        poison: list[int] = []

        @svc.endpoint(s_flaky, backoff=0.01)
        async def flaky(_: Any, ctx: Context) -> None:
            attempts.append(ctx.attempt)
            if ctx.attempt < 3:
                raise RuntimeError("try again")

        @svc.endpoint(s_poison, max_attempts=2, backoff=0.01)
        async def always_fails(_: Any, ctx: Context) -> None:
            poison.append(ctx.attempt)
            raise RuntimeError("poison")

        bus = await connect()
        self._needs_durable(bus)
        dead: list[Message] = []

        async def poll_dead() -> None:
            dead[:] = await dead_letters_of(bus, svc.name)
        await bus.serve(svc)
        await bus.notify(s_flaky, None)
        await bus.notify(s_poison, None)
        await eventually(lambda: attempts == [1, 2, 3] and len(poison) == 2)
        await eventually_async(poll_dead, lambda: len(dead) == 1)
        assert poison == [1, 2]
        assert dead[0].subject == s_poison and dead[0].headers["il-dead-subject"] == s_poison
        assert "poison" in dead[0].headers["il-dead-reason"]
        assert dead[0].headers["il-dead-attempts"] == "2"
        assert await bus.transport.remove_dead_letters({dead[0].headers["il-id"]}) == 1
        await eventually_async(poll_dead, lambda: len(dead) == 0)

    async def test_undecodable_message_dead_lettered_at_once(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        subject = unique()
        good: list[int] = []

        @svc.endpoint(subject)
        async def count(n: int) -> None:
            good.append(n)

        bus = await connect()
        self._needs_durable(bus)
        dead: list[Message] = []

        async def poll_dead() -> None:
            dead[:] = await dead_letters_of(bus, svc.name)
        await bus.serve(svc)
        await bus.transport.send(Message(subject, b"{not json", {"content-type": "application/json"}))
        await bus.notify(subject, "a string, not an int")
        for n in range(3):
            await bus.notify(subject, n)
        await eventually(lambda: sorted(good) == [0, 1, 2])
        await eventually_async(poll_dead, lambda: len(dead) == 2)
        assert all(m.headers["il-dead-attempts"] == "1" for m in dead)

    async def test_idempotent_handler_runs_once_per_message_id(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        subject = unique()
        calls: list[tuple[int, int]] = []

        @svc.endpoint(subject, idempotent=True, backoff=0.01)
        async def once(n: int, ctx: Context) -> None:
            calls.append((n, ctx.attempt))
            if n == 2 and ctx.attempt == 1:
                raise RuntimeError("a failure is retried, not taken for a duplicate")

        bus = await connect()
        self._needs_durable(bus)
        await bus.serve(svc)
        same = {"il-id": unique("id") + "0" * 22}
        for _ in range(3):
            await bus.notify(subject, 1, headers=same)
        await bus.notify(subject, 2)
        await eventually(lambda: (2, 2) in calls)
        await asyncio.sleep(0.2)
        assert sorted(calls) == [(1, 1), (2, 1), (2, 2)]

    async def test_async_error_reply_reaches_the_reply_endpoint(self, connect: Connect) -> None:
        billing, trip = Service(unique("billing")), Service(unique("trip"))
        s_auth, s_done = unique(), unique()
        got: list[Any] = []

        @billing.endpoint(s_auth)
        async def refuse(_: Any) -> None:
            raise interlink.ServiceError("declined", "card declined")

        @trip.endpoint(s_done)
        async def on_reply(body: dict[str, Any], ctx: Context) -> None:
            got.append((body, ctx.correlation_id))

        bus = await connect()
        self._needs_durable(bus)
        await bus.serve(billing)
        await bus.serve(trip)
        cid = await bus.send(s_auth, 1, reply_to=s_done)
        await eventually(lambda: len(got) == 1)
        error, reply_cid = got[0]
        assert isinstance(error, interlink.RemoteError) and error.code == "declined" and reply_cid == cid
