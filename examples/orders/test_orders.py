"""The FastStream-style orders port, tested with the public harness only (strict or auto mode; memory or
a real broker with ``--interlink-broker URL``)."""

from __future__ import annotations

import pytest

import interlink
from examples.orders.service import app
from interlink.testing import Harness

pytestmark = pytest.mark.asyncio  # needed in pytest-asyncio's strict mode, harmless in auto mode


async def test_a_created_order_is_validated_shipped_and_mailed(interlink_bus: interlink.Bus,
                                                              interlink_harness: Harness) -> None:
    await app.serve(interlink_bus)
    await interlink_bus.publish("orders.created", {"id": "o1", "items": ["book", "pen"], "total": 12.5})
    await interlink_harness.settled()  # validate -> orders.validated -> ship -> mail.notify, all handled
    assert (await interlink_harness.published("orders.validated")).body == {"id": "o1", "total": 12.5, "items": 2}
    assert [h.body for h in interlink_harness.handled("mail.notify")] == [{"order": "o1"}]
    assert interlink_harness.dead_letters() == []


async def test_an_empty_order_is_dead_lettered_with_its_code(interlink_bus: interlink.Bus,
                                                             interlink_harness: Harness) -> None:
    await app.serve(interlink_bus)
    await interlink_bus.publish("orders.created", {"id": "o2", "items": [], "total": 0})
    await interlink_harness.settled()
    [dead] = interlink_harness.dead_letters(service="orders")
    assert dead.code == "empty_order" and dead.subject == "orders.created"
    assert interlink_harness.published_bodies("orders.validated") == []


async def test_a_malformed_order_is_refused_not_retried(interlink_bus: interlink.Bus,
                                                        interlink_harness: Harness) -> None:
    await app.serve(interlink_bus)
    await interlink_bus.publish("orders.created", {"id": "o3"})
    await interlink_harness.settled()
    [dead] = interlink_harness.dead_letters()
    assert dead.code == "invalid" and dead.attempts == 1
