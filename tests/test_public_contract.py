"""A script written only against the public contract (README and docs/api.md) runs unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

import interlink
from interlink import Context, Service


class VerifyPassenger(msgspec.Struct):
    passenger_id: str


class PassengerStatus(msgspec.Struct):
    passenger_id: str
    ok: bool


passenger = Service("passenger", version="1.0.0")
billing = Service("billing")
trip = Service("trip")
driver = Service("driver")
events: list[Any] = []


@passenger.endpoint("passenger.verify")
async def verify(req: VerifyPassenger, ctx: Context) -> PassengerStatus:
    return PassengerStatus(req.passenger_id, ok=True)


@billing.endpoint("billing.charge")
async def charge(amount: int, ctx: Context) -> dict[str, Any]:
    return {"charged": amount}


@trip.endpoint("trip.charged")
async def charged(reply: dict[str, Any], ctx: Context) -> None:
    events.append(("charged", reply, ctx.correlation_id))


@trip.endpoint("trip.note")
def note(body: str) -> str:  # plain def: a worker thread; the return value of a notification is dropped
    events.append(("note", body))
    return "ignored"


@driver.subscribe("trip.*")
async def offer(event: dict[str, Any], ctx: Context) -> dict[str, Any] | None:
    events.append(("event", ctx.subject, ctx.sender, ctx.attempt, ctx.message_id != ""))
    return {"eta": 60} if ctx.subject == "trip.offer" else None


async def until(check: Any) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not in time")


async def test_script_against_the_contract() -> None:
    assert (passenger.name, passenger.version) == ("passenger", "1.0.0")
    async with interlink.connect("memory://design") as bus:
        for svc in (passenger, billing, trip, driver):
            await bus.serve(svc)
        status = await bus.request("passenger.verify", {"passenger_id": "p1"})
        assert status == {"passenger_id": "p1", "ok": True}
        await bus.notify("trip.note", "hello")
        cid = await bus.send("billing.charge", 42, reply_to="trip.charged")
        await bus.publish("trip.created", {"id": 1})
        replies = await bus.gather("trip.offer", {"id": 1}, within=0.3, max_replies=None)
        assert [(r.body, r.service) for r in replies] == [({"eta": 60}, "driver")]
        assert replies[0].instance.startswith("driver-") and "il-id" in replies[0].headers
        got = [r.body async for r in bus.scatter("trip.offer", {"id": 2}, within=0.2)]
        assert got == [{"eta": 60}]
        await until(lambda: ("charged", {"charged": 42}, cid) in events and ("note", "hello") in events)
        assert ("event", "trip.created", "client", 1, True) in events
    for name in ("InterlinkError", "RequestTimeout", "NoResponders", "RemoteError", "ValidationError",
                 "SubjectError", "ServiceError"):
        assert hasattr(interlink, name)
    remote = interlink.RemoteError("not_found", "gone", "trip", {"id": 1})
    assert (remote.code, remote.message, remote.service, remote.details) == ("not_found", "gone", "trip", {"id": 1})


def test_the_plugin_fixture_gives_a_working_bus(memory_bus: interlink.Bus) -> None:
    assert isinstance(memory_bus, interlink.Bus)
    assert memory_bus.transport.durable
