"""The in-process store of the taxi example: the inbox semantics the PostgreSQL store has too."""

from __future__ import annotations

import pytest

import interlink
from interlink import Context
from interlink import _headers as h
from interlink.examples.taxi.messages import Payment
from interlink.examples.taxi.store import MemoryStore
from interlink.testing import unique


async def test_a_message_id_is_handled_once_and_a_failed_unit_does_not_count() -> None:
    store = MemoryStore()
    async with interlink.connect(f"memory://{unique()}") as bus:
        ctx = Context(bus, "billing", "billing-1", "billing.capture", {h.MESSAGE_ID: "m1"})
        with pytest.raises(RuntimeError):
            async with store.unit(ctx) as unit:
                assert not unit.duplicate
                raise RuntimeError("the card processor is down")
        for _ in range(2):  # the redelivery after the failure does the work; the next one is a duplicate
            async with store.unit(ctx) as unit:
                if not unit.duplicate:
                    await unit.capture(Payment("r1", 700, authorised=True))
    assert await store.captures() == {"r1": 1}
    assert store.payments["r1"].captured
