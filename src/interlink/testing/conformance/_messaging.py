"""Asynchronous styles: notification, request/async response, publish/subscribe, gather."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from interlink import Context, Service
from interlink.testing._names import unique
from interlink.testing.conformance._support import Connect, Suite, eventually


class MessagingSuite(Suite):
    async def test_notification(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        subject = unique()
        got: list[Any] = []

        @svc.endpoint(subject)
        async def note(body: dict[str, int], ctx: Context) -> str:
            got.append((body, ctx.sender))
            return "dropped"

        bus = await connect(name="phone")
        await bus.serve(svc)
        message_id = await bus.notify(subject, {"n": 1})
        assert len(message_id) == 32
        await eventually(lambda: got == [({"n": 1}, "phone")])

    async def test_competing_consumers_each_message_once(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        subject = unique()
        handled: Counter[int] = Counter()
        by_instance: Counter[str] = Counter()

        @svc.endpoint(subject)
        async def work(n: int, ctx: Context) -> None:
            handled[n] += 1
            by_instance[ctx.instance] += 1
            await asyncio.sleep(0.001)

        buses = [await connect() for _ in range(3)]
        for bus in buses:
            await bus.serve(svc)
        for n in range(300):
            await buses[0].notify(subject, n)
        await eventually(lambda: sum(handled.values()) >= 300)
        await asyncio.sleep(0.2)
        assert set(handled) == set(range(300)) and max(handled.values()) == 1
        assert len(by_instance) == 3, by_instance

    async def test_send_with_async_reply(self, connect: Connect) -> None:
        billing, trip = Service(unique("billing")), Service(unique("trip"))
        s_auth, s_done = unique(), unique()
        replies: list[tuple[Any, str, str]] = []

        @billing.endpoint(s_auth)
        async def authorise(amount: int) -> dict[str, Any]:
            await asyncio.sleep(0.05)
            return {"ok": amount < 100}

        @trip.endpoint(s_done)
        async def on_reply(body: dict[str, Any], ctx: Context) -> None:
            replies.append((body, ctx.correlation_id, ctx.sender))

        bus = await connect()
        await bus.serve(billing)
        await bus.serve(trip)
        cid = await bus.send(s_auth, 42, reply_to=s_done)
        await eventually(lambda: len(replies) == 1)
        assert replies == [({"ok": True}, cid, billing.name)]

    # -- publish-subscribe ---------------------------------------------------

    async def test_publish_one_copy_per_service_balanced(self, connect: Connect) -> None:
        topic = unique()
        a, b = Service(unique("a")), Service(unique("b"))
        seen: dict[str, Counter[str]] = {a.name: Counter(), b.name: Counter()}

        for svc in (a, b):
            @svc.subscribe(f"{topic}.created")
            async def on_event(body: int, ctx: Context) -> None:
                seen[ctx.service][ctx.instance] += 1

        buses = [await connect() for _ in range(2)]
        for bus in buses:
            await bus.serve(a)
            await bus.serve(b)
        for n in range(40):
            await buses[0].publish(f"{topic}.created", n)
        await eventually(lambda: all(sum(c.values()) >= 40 for c in seen.values()))
        await asyncio.sleep(0.2)
        for counts in seen.values():
            assert sum(counts.values()) == 40 and len(counts) == 2, counts

    async def test_broadcast_gives_every_instance_a_copy(self, connect: Connect) -> None:
        topic = unique()
        svc = Service(unique("ui"))
        seen: Counter[str] = Counter()

        @svc.subscribe(f"{topic}.tick", broadcast=True)
        async def on_tick(_: Any, ctx: Context) -> None:
            seen[ctx.instance] += 1

        buses = [await connect() for _ in range(3)]
        instances = [(await bus.serve(svc)).id for bus in buses]
        for _ in range(5):
            await buses[0].publish(f"{topic}.tick", None)
        await eventually(lambda: sum(seen.values()) >= 15, state=lambda: (dict(seen), instances))
        assert len(seen) == 3 and set(seen.values()) == {5}

    async def test_wildcards(self, connect: Connect) -> None:
        topic = unique()
        svc = Service(unique("svc"))
        one: list[str] = []
        rest: list[str] = []

        @svc.subscribe(f"{topic}.*.created")
        async def star(_: Any, ctx: Context) -> None:
            one.append(ctx.subject)

        @svc.subscribe(f"{topic}.>")
        async def tail(_: Any, ctx: Context) -> None:
            rest.append(ctx.subject)

        bus = await connect()
        await bus.serve(svc)
        for subject in (f"{topic}.trip.created", f"{topic}.trip.x.created", f"{topic}.driver.created",
                        f"{topic}.trip"):
            await bus.publish(subject, None)
        await eventually(lambda: len(rest) == 4 and len(one) == 2)
        assert sorted(one) == [f"{topic}.driver.created", f"{topic}.trip.created"]

    async def test_gather_and_scatter(self, connect: Connect) -> None:
        topic = unique()
        drivers = Service(unique("driver"))
        quiet = Service(unique("quiet"))

        @drivers.subscribe(f"{topic}.offer", broadcast=True)
        async def offer(req: dict[str, int], ctx: Context) -> dict[str, Any]:
            return {"price": req["base"] + len(ctx.instance)}

        @quiet.subscribe(f"{topic}.offer")
        async def listen(_: Any) -> None:
            return None  # None is not a reply

        buses = [await connect() for _ in range(3)]
        for bus in buses:
            await bus.serve(drivers)
            await bus.serve(quiet)
        start = time.monotonic()
        replies = await buses[0].gather(f"{topic}.offer", {"base": 10}, within=1.0)
        assert len(replies) == 3 and time.monotonic() - start >= 0.9
        assert {r.service for r in replies} == {drivers.name}
        assert len({r.instance for r in replies}) == 3
        start = time.monotonic()
        first = await buses[0].gather(f"{topic}.offer", {"base": 1}, within=5.0, max_replies=2)
        assert len(first) == 2 and time.monotonic() - start < 4.0
        streamed = [r.body["price"] async for r in buses[0].scatter(f"{topic}.offer", {"base": 0}, within=0.5)]
        assert len(streamed) == 3
