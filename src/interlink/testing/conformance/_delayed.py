"""Delayed messages: ``delay=``/``at=`` on notify, send and publish; due-time precision; bad delays."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from interlink import Context, Service
from interlink.testing._names import unique
from interlink.testing.conformance._support import Connect, Suite, counting_service, eventually

#: A delayed message arrives no earlier than this before its due time (clock rounding)
#: and no later than PRECISION after it.
EARLY = 0.05
PRECISION = 1.0


def _timed_service() -> tuple[Service, str, list[tuple[float, float]]]:
    """An endpoint keeping (arrival time, due time from the il-due header) of each message."""
    svc, subject = Service(unique("svc")), unique()
    arrivals: list[tuple[float, float]] = []

    @svc.endpoint(subject)
    async def note(_: Any, ctx: Context) -> None:
        arrivals.append((time.time(), float(ctx.headers["il-due"])))

    return svc, subject, arrivals


class DelayedSuite(Suite):
    async def test_delayed_notify_arrives_within_a_second_of_due(self, connect: Connect) -> None:
        svc, subject, arrivals = _timed_service()
        bus = await connect()
        await bus.serve(svc)
        sent = time.time()
        await bus.notify(subject, 1, delay=1.0)
        await bus.notify(subject, 2, delay=2.5)
        await eventually(lambda: len(arrivals) == 2, timeout=10)
        for arrived, due in arrivals:
            assert due - EARLY <= arrived <= due + PRECISION, (arrived - due)
        assert arrivals[0][1] - sent == pytest.approx(1.0, abs=0.2)

    async def test_delayed_publish_at_a_datetime(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        topic = unique()
        got: list[float] = []

        @svc.subscribe(f"{topic}.*")
        async def on_event(_: Any) -> None:
            got.append(time.time())

        bus = await connect()
        await bus.serve(svc)
        due = datetime.now(UTC) + timedelta(seconds=1.2)
        await bus.publish(f"{topic}.x", {"n": 1}, at=due)
        await eventually(lambda: len(got) == 1, timeout=10)
        assert due.timestamp() - EARLY <= got[0] <= due.timestamp() + PRECISION

    async def test_delayed_send_is_answered_to_its_reply_endpoint(self, connect: Connect) -> None:
        svc = Service(unique("svc"))
        ask, answers = unique(), unique()
        replies: list[tuple[str, int]] = []

        @svc.endpoint(ask)
        async def double(n: int) -> int:
            return 2 * n

        @svc.endpoint(answers)
        async def on_answer(n: int, ctx: Context) -> None:
            replies.append((ctx.correlation_id, n))

        bus = await connect()
        await bus.serve(svc)
        cid = await bus.send(ask, 21, reply_to=answers, delay=1.0)
        await asyncio.sleep(0.5)
        assert replies == []
        await eventually(lambda: replies == [(cid, 42)], timeout=10)

    async def test_a_delayed_message_waits_for_a_stopped_service(self, connect: Connect) -> None:
        svc, subject, got = counting_service()
        sender, server = await connect(), await connect()
        self._needs_durable(sender)
        instance = await server.serve(svc)
        await instance.stop()
        await sender.notify(subject, 7, delay=1.0)
        await asyncio.sleep(2.0)  # due while the service is down
        assert got == []
        await server.serve(svc)
        await eventually(lambda: got == [7], timeout=10)

    async def test_pending_delayed_messages_do_not_hold_back_others(self, connect: Connect) -> None:
        svc, subject, arrivals = _timed_service()
        plain = unique()
        heard: list[int] = []

        @svc.endpoint(plain)
        async def now(n: int) -> None:
            heard.append(n)

        bus = await connect()
        await bus.serve(svc)
        await asyncio.gather(*(bus.notify(subject, n, delay=60.0) for n in range(200)))
        await bus.notify(subject, -1, delay=1.0)  # due long before the 200 scheduled ahead of it
        await bus.notify(plain, 1)
        await eventually(lambda: heard == [1], timeout=5)
        await eventually(lambda: len(arrivals) == 1, timeout=10)
        arrived, due = arrivals[0]
        assert arrived <= due + PRECISION

    async def test_bad_delays_are_refused_at_the_call(self, connect: Connect) -> None:
        bus = await connect()
        subject = unique()
        limit = bus.transport.max_delay
        for bad in (-1.0, float("inf"), float("nan"), limit + 60):
            with pytest.raises(ValueError):
                await bus.notify(subject, 1, delay=bad)
        with pytest.raises(ValueError):
            await bus.publish(subject, 1, delay=1.0, durable=False)
        with pytest.raises(ValueError):
            await bus.notify(subject, 1, at=datetime.now() + timedelta(seconds=5))  # no time zone
        with pytest.raises(ValueError):
            await bus.notify(subject, 1, at=datetime.now(UTC) - timedelta(seconds=5))
        with pytest.raises(ValueError):
            await bus.send(subject, 1, reply_to=unique(), delay=1.0, at=datetime.now(UTC))
        with pytest.raises(TypeError):
            await bus.notify(subject, 1, delay="5")  # type: ignore[arg-type]
