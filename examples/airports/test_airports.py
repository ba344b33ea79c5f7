"""The airports/trips port, tested with the public harness only (strict or auto mode; memory or a real
broker with ``--interlink-broker URL``)."""

from __future__ import annotations

import pytest

import interlink
from examples.airports.services import app
from interlink.testing import Harness

pytestmark = pytest.mark.asyncio  # needed in pytest-asyncio's strict mode, harmless in auto mode


async def test_create_and_get_a_trip(interlink_bus: interlink.Bus, interlink_harness: Harness) -> None:
    await app.serve(interlink_bus)
    ams = await interlink_bus.request("airports.create", {"code": "AMS", "name": "Schiphol"})
    lhr = await interlink_bus.request("airports.create", {"code": "LHR"})
    trip_id = await interlink_bus.request("trips.create", {"airport_from": ams, "airport_to": lhr})
    trip = await interlink_bus.request("trips.get", trip_id)
    assert trip == {"id": trip_id, "airport_from": ams, "airport_to": lhr}
    event = await interlink_harness.published("trips.created")
    assert event.body["id"] == trip_id
    await interlink_harness.settled()
    assert len(interlink_harness.handled("airports.get", outcome="ok")) == 2


async def test_an_unknown_airport_is_the_airports_services_not_found(interlink_bus: interlink.Bus,
                                                                     interlink_harness: Harness) -> None:
    await app.serve(interlink_bus)
    lhr = await interlink_bus.request("airports.create", {"code": "LHR"})
    with pytest.raises(interlink.RemoteError) as err:
        await interlink_bus.request("trips.create", {"airport_from": "nowhere", "airport_to": lhr})
    assert (err.value.code, err.value.service, err.value.path) == ("not_found", "airports", ("airports", "trips"))
    assert err.value.details == {"airport_id": "nowhere"}
    await interlink_harness.settled()
    assert interlink_harness.published_bodies("trips.created") == []
