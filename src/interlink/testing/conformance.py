"""The transport conformance kit: every transport must pass these tests.

    # tests/conformance/test_nats.py
    class TestNats(TransportConformance):
        @pytest.fixture
        def broker_url(self) -> str:
            return "nats://127.0.0.1:4222"

Each test builds its services with :func:`unique` names, so suites can share a
long-lived broker. Tests that need durability are skipped, with the reason, on
transports whose ``durable`` flag is False.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import pytest

import interlink
from interlink import Context, Service
from interlink.testing._names import unique
from interlink.transports.base import Message

Connect = Callable[..., Awaitable[interlink.Bus]]


class Point(msgspec.Struct):
    x: int
    y: int


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``check()`` is true; fail the test after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
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


class TransportConformance:
    """The contract of DESIGN sections 1-4, run against one broker URL."""

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

    # -- request/response -------------------------------------------------

    async def test_request_response(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        subject = f"{unique()}.add"

        @svc.endpoint(subject)
        async def add(p: Point, ctx: Context) -> Point:
            return Point(p.x + p.y, ctx.attempt)

        bus = await connect()
        await bus.serve(svc)
        reply = await bus.request(subject, Point(2, 3), reply_type=Point)
        assert reply == Point(5, 1)
        assert await bus.request(subject, {"x": 1, "y": 1}) == {"x": 2, "y": 1}

    async def test_sync_handler_runs_in_thread(self, connect: Connect) -> None:
        import threading

        svc = Service(unique("svc"))
        subject = unique()

        @svc.endpoint(subject)
        def where(_: None) -> str:
            return threading.current_thread().name

        bus = await connect()
        await bus.serve(svc)
        assert await bus.request(subject) != threading.current_thread().name

    async def test_headers_and_context(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        subject = unique()

        @svc.endpoint(subject)
        async def inspect(_: Any, ctx: Context) -> dict[str, Any]:
            return {"id": ctx.message_id, "cid": ctx.correlation_id, "sender": ctx.sender,
                    "trace": ctx.traceparent, "deadline": ctx.deadline, "subject": ctx.subject}

        bus = await connect(name="tester")
        await bus.serve(svc)
        seen = await bus.request(subject, None, timeout=3.0, headers={"il-cid": "abc"})
        assert len(seen["id"]) == 32 and seen["cid"] == "abc" and seen["sender"] == "tester"
        assert seen["trace"].startswith("00-") and len(seen["trace"]) == 55
        assert 0 < seen["deadline"] <= 3.0 and seen["subject"] == subject

    async def test_deadline_propagates_to_nested_request(self, connect: Connect) -> None:
        outer, inner = Service(unique("outer")), Service(unique("inner"))
        s_outer, s_inner = unique(), unique()

        @inner.endpoint(s_inner)
        async def slow(_: Any, ctx: Context) -> float | None:
            return ctx.deadline

        @outer.endpoint(s_outer)
        async def call(_: Any, ctx: Context) -> float | None:
            await asyncio.sleep(0.3)
            result: float | None = await ctx.request(s_inner, None, timeout=30.0)
            return result

        bus = await connect()
        await bus.serve(outer)
        await bus.serve(inner)
        left = await bus.request(s_outer, None, timeout=2.0)
        assert left is not None and left < 1.75

    async def test_request_timeout(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        subject = unique()

        @svc.endpoint(subject)
        async def never(_: Any) -> None:
            await asyncio.sleep(5)

        bus = await connect()
        await bus.serve(svc)
        start = time.monotonic()
        with pytest.raises(interlink.RequestTimeout):
            await bus.request(subject, None, timeout=0.3)
        assert time.monotonic() - start < 2.0

    async def test_no_responders_fails_fast(self, connect: Connect) -> None:
        bus = await connect()
        start = time.monotonic()
        with pytest.raises(interlink.NoResponders):
            await bus.request(unique("nobody"), None, timeout=5.0)
        assert time.monotonic() - start < 1.0

    async def test_remote_errors_keep_their_code(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        s_typed, s_crash = unique(), unique()

        @svc.endpoint(s_typed)
        async def typed(_: Any) -> None:
            raise interlink.ServiceError("not_found", "no such trip", {"id": 7})

        @svc.endpoint(s_crash)
        async def crash(_: Any) -> None:
            raise RuntimeError("secret stack detail")

        bus = await connect()
        await bus.serve(svc)
        with pytest.raises(interlink.RemoteError) as err:
            await bus.request(s_typed, None)
        assert (err.value.code, err.value.message, err.value.details) == ("not_found", "no such trip", {"id": 7})
        assert err.value.service == svc.name
        with pytest.raises(interlink.RemoteError) as err:
            await bus.request(s_crash, None)
        assert err.value.code == "internal" and "secret" not in str(err.value)

    async def test_invalid_body_gives_validation_error(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        subject = unique()

        @svc.endpoint(subject)
        async def add(p: Point) -> int:
            return p.x + p.y

        bus = await connect()
        await bus.serve(svc)
        with pytest.raises(interlink.ValidationError):
            await bus.request(subject, {"x": "not a number", "y": 1})
        with pytest.raises(interlink.ValidationError):
            await bus.request(subject, object())  # cannot be encoded: refused at the sender
        assert await bus.request(subject, {"x": 1, "y": 2}) == 3  # the service keeps running

    async def test_bad_names_raise_subject_error(self, connect: Connect) -> None:
        for bad in ("", "a..b", "a b", "_private", "$sys", "x" * 256, "a.*", "a.>"):
            with pytest.raises(interlink.SubjectError):
                Service("s").endpoint(bad)
        with pytest.raises(interlink.SubjectError):
            Service("bad.name")
        bus = await connect()
        with pytest.raises(interlink.SubjectError):
            await bus.request("bad subject", None)
        with pytest.raises(interlink.SubjectError):
            await bus.publish("a.>", None)

    async def test_msgpack_round_trip(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        subject = unique()

        @svc.endpoint(subject)
        async def echo(p: Point) -> Point:
            return p

        server, client = await connect(format="msgpack"), await connect(format="json")
        await server.serve(svc)
        assert await client.request(subject, Point(1, 2), reply_type=Point) == Point(1, 2)
        assert await server.request(subject, Point(3, 4), reply_type=Point) == Point(3, 4)

    async def test_many_requests_in_flight(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        subject = unique()

        @svc.endpoint(subject, max_concurrency=200)
        async def echo(n: int) -> int:
            await asyncio.sleep(0.01)
            return n

        bus = await connect()
        await bus.serve(svc)
        replies = await asyncio.gather(*(bus.request(subject, n, timeout=30.0) for n in range(1000)))
        assert replies == list(range(1000))

    # -- point-to-point, asynchronous -----------------------------------------

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
        for bus in buses:
            await bus.serve(svc)
        for _ in range(5):
            await buses[0].publish(f"{topic}.tick", None)
        await eventually(lambda: sum(seen.values()) >= 15)
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

    # -- at-least-once -----------------------------------------------------

    def _needs_durable(self, bus: interlink.Bus) -> None:
        if not bus.transport.durable:
            pytest.skip(f"{type(bus.transport).__name__} is not durable")

    async def test_message_for_a_stopped_service_is_kept(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        subject = unique()
        got: list[int] = []

        @svc.endpoint(subject)
        async def note(n: int) -> None:
            got.append(n)

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
            ours = [m for m in await bus.transport.dead_letters() if m.headers.get("il-dead-service") == svc.name]
            dead[:] = ours
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
            ours = [m for m in await bus.transport.dead_letters() if m.headers.get("il-dead-service") == svc.name]
            dead[:] = ours
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

    async def test_body_over_the_broker_limit_is_refused_at_the_sender(self, connect: Connect) -> None:
        bus = await connect()
        too_big = "x" * (bus.transport.max_payload + 1)
        with pytest.raises(interlink.ValidationError, match="limit"):
            await bus.publish(unique(), too_big)
        with pytest.raises(interlink.ValidationError, match="limit"):
            await bus.request(unique(), too_big)

    async def test_late_reply_is_dropped_not_misdelivered(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        subject = unique()

        @svc.endpoint(subject, max_concurrency=8)
        async def echo(body: dict[str, float]) -> dict[str, float]:
            await asyncio.sleep(body["sleep"])
            return body

        bus = await connect()
        await bus.serve(svc)
        with pytest.raises(interlink.RequestTimeout):
            await bus.request(subject, {"sleep": 0.3, "n": 1}, timeout=0.1)
        replies = await asyncio.gather(*(bus.request(subject, {"sleep": 0.05 * (n % 3), "n": n}) for n in range(2, 12)))
        assert [r["n"] for r in replies] == list(range(2, 12))
        await asyncio.sleep(0.3)  # the late reply to n=1 arrives now and must go nowhere
        assert (await bus.request(subject, {"sleep": 0.0, "n": 99}))["n"] == 99
