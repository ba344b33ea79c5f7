"""Request/response: replies, errors, deadlines, timeouts, limits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import interlink
from interlink import Context, Service
from interlink.testing._names import unique
from interlink.testing.conformance._support import Connect, Point, Suite


class RequestSuite(Suite):
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
