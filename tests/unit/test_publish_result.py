"""publish=: a handler's non-None return value is published before its message is acknowledged."""

from __future__ import annotations

from typing import Any

import pytest

import interlink
from interlink import Context, Service, SubjectError
from interlink.testing import harness, unique
from tests.conftest import NATS_URL, require_broker


def orders() -> Service:
    svc = Service("orders")

    @svc.subscribe("orders.created", publish="orders.validated")
    async def validate(order: dict[str, Any]) -> dict[str, Any] | None:
        return None if order.get("skip") else {**order, "valid": True}

    @svc.endpoint("orders.price", publish="orders.priced")
    async def price(order: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"id": order["id"], "price": 10}

    @svc.subscribe("orders.broken", publish="orders.never", max_attempts=2, backoff=0.01)
    async def broken(order: Any) -> object:
        return object()  # cannot be encoded: the publish fails, so the event is retried, not acknowledged

    return svc


@pytest.fixture(params=["memory", "nats"])
def url(request: pytest.FixtureRequest) -> str:
    return f"memory://{unique('p')}" if request.param == "memory" else require_broker(NATS_URL, "NATS")


async def test_results_are_published_and_replies_still_answer(url: str) -> None:
    shared = not url.startswith("memory")
    async with interlink.connect(url) as bus, harness(bus, prefix=unique("t") if shared else None) as h:
        await bus.serve(orders())
        await bus.publish("orders.created", {"id": 1})
        await bus.publish("orders.created", {"id": 2, "skip": True})
        assert await bus.request("orders.price", {"id": 3}) == {"id": 3, "price": 10}
        replies = await bus.gather("orders.created", {"id": 4}, within=1.0, max_replies=1)
        await h.settled(timeout=20)
        assert [r.body for r in replies] == [{"id": 4, "valid": True}]
        assert h.published_bodies("orders.validated") == [{"id": 1, "valid": True}, {"id": 4, "valid": True}]
        event = await h.published("orders.priced")
        assert event.body == {"id": 3, "price": 10}
        assert event.headers["il-from"] == "orders"


async def test_a_failed_publish_retries_the_incoming_message() -> None:
    async with interlink.connect(f"memory://{unique('p')}") as bus, harness(bus) as h:
        await bus.serve(orders())
        await bus.publish("orders.broken", {"id": 5})
        await h.settled(timeout=10)
        assert [x.outcome for x in h.handled("orders.broken")] == ["retried", "dead_lettered"]
        assert h.published_bodies("orders.never") == []


def test_a_bad_publish_subject_is_refused_where_declared() -> None:
    svc = Service("x")
    with pytest.raises(SubjectError):
        svc.subscribe("a.b", publish="bad subject")
    with pytest.raises(SubjectError):
        svc.endpoint("a.c", publish="c.*")
