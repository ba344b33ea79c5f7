"""The harness: records, settled() over a cascade, dead letters, isolation on a real broker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import interlink
from interlink import Context, Service, ServiceError
from interlink.testing import Harness, NotSettled, harness, unique
from tests.conftest import NATS_URL, require_broker


def shop() -> list[Service]:
    orders = Service("orders")

    @orders.subscribe("orders.created")
    async def validate(order: dict[str, Any], ctx: Context) -> None:
        await asyncio.sleep(0.02)
        if order["qty"] <= 0:
            raise ServiceError("invalid_qty", "quantity must be positive")
        await ctx.publish("orders.validated", {**order, "ok": True})

    billing = Service("billing")

    @billing.subscribe("orders.validated")
    async def bill(order: dict[str, Any], ctx: Context) -> None:
        await asyncio.sleep(0.02)
        await ctx.notify("mail.send", {"to": order["id"]})

    mail = Service("mail")

    @mail.endpoint("mail.send")
    async def send(body: dict[str, Any]) -> None:
        await asyncio.sleep(0.05)

    @mail.endpoint("mail.ping")
    async def ping(body: Any) -> str:
        return "pong"

    return [orders, billing, mail]


@pytest.fixture(params=["memory", "nats"])
def url(request: pytest.FixtureRequest) -> str:
    return f"memory://{unique('h')}" if request.param == "memory" else require_broker(NATS_URL, "NATS")


async def test_settled_waits_for_the_whole_cascade(url: str) -> None:
    shared = not url.startswith("memory")
    async with interlink.connect(url) as bus, harness(bus, prefix=unique("t") if shared else None) as h:
        for svc in shop():
            await bus.serve(svc)
        await bus.publish("orders.created", {"id": "o1", "qty": 2})
        await bus.publish("orders.created", {"id": "o2", "qty": 0})
        await h.settled(timeout=20)
        assert {x.body["id"] for x in h.handled("orders.created")} == {"o1", "o2"}
        assert [x.body for x in h.handled("mail.send", outcome="ok")] == [{"to": "o1"}]
        assert (await h.published("orders.validated")).body == {"id": "o1", "qty": 2, "ok": True}
        assert h.published_bodies("orders.*") == [{"id": "o1", "qty": 2}, {"id": "o2", "qty": 0},
                                                  {"id": "o1", "qty": 2, "ok": True}]
        [dead] = h.dead_letters(service="orders")
        assert dead.code == "invalid_qty" and dead.json() == {"id": "o2", "qty": 0}
        assert (await h.sent("mail.send")).body == {"to": "o1"}
        assert await bus.request("mail.ping", None) == "pong"
        assert h.handled("mail.ping")[0].result == "pong"


async def test_settled_names_what_is_outstanding() -> None:
    async with interlink.connect(f"memory://{unique('h')}") as bus, harness(bus) as h:
        slow = Service("slow")

        @slow.endpoint("slow.work")
        async def work(body: Any) -> None:
            await asyncio.sleep(1.5)

        await bus.serve(slow)
        await bus.notify("slow.work", 1)
        with pytest.raises(NotSettled, match=r"slow\.work"):
            await h.settled(timeout=0.3)


async def test_a_retried_message_counts_once_it_succeeds() -> None:
    attempts: list[int] = []
    async with interlink.connect(f"memory://{unique('h')}") as bus, harness(bus) as h:
        flaky = Service("flaky")

        @flaky.endpoint("flaky.do", backoff=0.01)
        async def do(body: Any, ctx: Context) -> None:
            attempts.append(ctx.attempt)
            if ctx.attempt < 3:
                raise RuntimeError("not yet")

        await bus.serve(flaky)
        await bus.notify("flaky.do", 1)
        await h.settled(timeout=10)
        assert attempts == [1, 2, 3]
        assert [x.outcome for x in h.handled("flaky.do")] == ["retried", "retried", "ok"]


async def test_the_harness_refuses_a_bus_already_serving() -> None:
    async with interlink.connect(f"memory://{unique('h')}") as bus:
        await bus.serve(shop()[2])
        with pytest.raises(ValueError, match=r"before bus\.serve"):
            async with Harness(bus):
                pass


async def test_isolated_tests_on_a_shared_broker_do_not_meet() -> None:
    url = require_broker(NATS_URL, "NATS")
    async with interlink.connect(url) as one, interlink.connect(url) as two, \
            harness(one, prefix=unique("t")) as h1, harness(two, prefix=unique("t")) as h2:
        for bus in (one, two):
            for svc in shop():
                await bus.serve(svc)
        await one.publish("orders.created", {"id": "a", "qty": 1})
        await two.publish("orders.created", {"id": "b", "qty": 0})
        await h1.settled(timeout=20)
        await h2.settled(timeout=20)
        assert [x.body["id"] for x in h1.handled("orders.created")] == ["a"]
        assert [x.body["id"] for x in h2.handled("orders.created")] == ["b"]
        [dead] = h2.dead_letters()
        assert dead.subject == "orders.created" and dead.service == "orders"
        dead_id = dead.id
    async with interlink.connect(url) as bus:
        assert dead_id not in {d.id for d in await bus.dead_letters.list(service="orders", limit=100_000)}


async def test_one_event_handled_by_two_services_is_told_apart() -> None:
    async with interlink.connect(f"memory://{unique('h')}") as bus, harness(bus) as h:
        good, bad = Service("good"), Service("bad")

        @good.subscribe("thing.happened")
        async def fine(body: Any) -> None:
            await asyncio.sleep(0.05)

        @bad.subscribe("thing.happened")
        async def broken(body: Any) -> None:
            raise ServiceError("nope")

        await bus.serve(good)
        await bus.serve(bad)
        await bus.publish("thing.happened", 1)
        await h.settled(timeout=10)
        outcomes = {x.service: x.outcome for x in h.handled("thing.happened")}
        assert outcomes == {"good": "ok", "bad": "dead_lettered"}
        assert [d.service for d in h.dead_letters()] == ["bad"]
