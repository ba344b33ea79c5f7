"""Every route kind over real HTTP, on the memory broker and on NATS."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from interlink import Context, Service, ServiceError
from tests.gateway.conftest import running


class Ride(msgspec.Struct):
    passenger_id: str
    seats: int = 1


def services(p: str, seen: dict[str, list[Any]]) -> list[Service]:
    trip = Service(f"{p}trip")

    @trip.endpoint(f"{p}.ride.create")
    async def create(ride: Ride, ctx: Context) -> dict[str, Any]:
        seen.setdefault("headers", []).append(dict(ctx.headers))
        return {"ride_id": f"r-{ride.passenger_id}", "seats": ride.seats}

    @trip.endpoint(f"{p}.ride.get")
    async def get(body: dict[str, Any]) -> dict[str, Any]:
        if body["ride_id"] == "missing":
            raise ServiceError("not_found", "no such ride", {"ride_id": "missing"})
        if body["ride_id"] == "taken":
            raise ServiceError("conflict", "already taken")
        if body["ride_id"] == "crash":
            raise RuntimeError("secret internal detail /srv/app.py line 3")
        return {"ride_id": body["ride_id"], "status": "waiting"}

    @trip.endpoint(f"{p}.ride.cancel")
    async def cancel(body: dict[str, Any]) -> None:
        seen.setdefault("cancelled", []).append(body)

    @trip.endpoint(f"{p}.ride.quote")
    async def quote(body: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.05)
        if body.get("fail"):
            raise ServiceError("invalid", "cannot quote that")
        return {"price": 12.5}

    events = Service(f"{p}audit")

    @events.subscribe(f"{p}.ride.*")
    async def audit(body: Any, ctx: Context) -> None:
        seen.setdefault("published", []).append((ctx.subject, body))

    return [trip, events, driver(p, 0), driver(p, 1)]


def driver(p: str, number: int) -> Service:
    svc = Service(f"{p}driver{number}")

    @svc.subscribe(f"{p}.offer")
    async def offer(body: Any) -> dict[str, Any]:
        return {"driver": number}
    return svc


def config(p: str) -> dict[str, Any]:
    return {"routes": [
        {"method": "POST", "path": "/rides", "request": f"{p}.ride.create",
         "headers": {"x-channel": "header.x-channel"}},
        {"path": "/rides/{ride_id}", "request": f"{p}.ride.get"},
        {"method": "DELETE", "path": "/rides/{ride_id}", "notify": f"{p}.ride.cancel"},
        {"method": "POST", "path": "/events/{kind}", "publish": f"{p}.ride.happened",
         "input": {"kind": "path.kind", "data": "body"}},
        {"method": "POST", "path": "/quotes", "send": f"{p}.ride.quote"},
        {"method": "POST", "path": "/offers", "gather": f"{p}.offer", "within": 0.3},
    ]}


async def test_request_route_answers_with_the_reply(broker_url: str, prefix: str) -> None:
    seen: dict[str, list[Any]] = {}
    async with running(config(prefix), broker_url, services(prefix, seen)) as gw:
        r = await gw.client.post("/rides", json={"passenger_id": "p1", "seats": 2},
                                 headers={"x-request-id": "req-42", "x-channel": "app"})
        assert r.status_code == 200, r.text
        assert r.json() == {"ride_id": "r-p1", "seats": 2}
        assert r.headers["x-request-id"] == "req-42"
        headers = seen["headers"][0]
        assert headers["il-cid"] == "req-42" and headers["x-channel"] == "app"
        assert headers["traceparent"].startswith("00-")
        r = await gw.client.get("/rides/r7")
        assert r.status_code == 200 and r.json() == {"ride_id": "r7", "status": "waiting"}


async def test_remote_errors_map_to_statuses_without_internals(broker_url: str, prefix: str) -> None:
    async with running(config(prefix), broker_url, services(prefix, {})) as gw:
        r = await gw.client.get("/rides/missing")
        assert r.status_code == 404
        assert r.json() == {"error": "not_found", "message": "no such ride", "details": {"ride_id": "missing"}}
        assert (await gw.client.get("/rides/taken")).status_code == 409
        r = await gw.client.get("/rides/crash")
        assert r.status_code == 502
        assert "secret" not in r.text and prefix not in r.text and "Traceback" not in r.text


async def test_notify_and_publish_are_accepted(broker_url: str, prefix: str) -> None:
    seen: dict[str, list[Any]] = {}
    async with running(config(prefix), broker_url, services(prefix, seen)) as gw:
        r = await gw.client.delete("/rides/r9")
        assert r.status_code == 202 and r.json()["status"] == "accepted"
        r = await gw.client.post("/events/started", json={"at": 1})
        assert r.status_code == 202
        for _ in range(200):
            if seen.get("cancelled") and seen.get("published"):
                break
            await asyncio.sleep(0.01)
        assert seen["cancelled"] == [{"ride_id": "r9"}]
        assert seen["published"] == [(f"{prefix}.ride.happened", {"kind": "started", "data": {"at": 1}})]


async def test_send_gives_a_location_that_answers_202_then_200(broker_url: str, prefix: str) -> None:
    async with running(config(prefix), broker_url, services(prefix, {})) as gw:
        r = await gw.client.post("/quotes", json={"km": 3})
        assert r.status_code == 202
        location = r.headers["location"]
        assert location.startswith("/replies/") and r.json()["location"] == location
        first = await gw.client.get(location)
        assert first.status_code == 202 and first.headers["retry-after"] == "1"
        done = await gw.client.get(location, params={"wait": 5})
        assert done.status_code == 200 and done.json() == {"price": 12.5}
        again = await gw.client.get(location)
        assert again.status_code == 200
        assert (await gw.client.get("/replies/nope")).status_code == 404


async def test_send_error_reply_maps_to_its_status(broker_url: str, prefix: str) -> None:
    async with running(config(prefix), broker_url, services(prefix, {})) as gw:
        r = await gw.client.post("/quotes", json={"fail": True})
        done = await gw.client.get(r.headers["location"], params={"wait": 5})
        assert done.status_code == 422 and done.json()["message"] == "cannot quote that"


async def test_send_reply_awaited_on_a_stream(broker_url: str, prefix: str) -> None:
    async with running(config(prefix), broker_url, services(prefix, {})) as gw:
        r = await gw.client.post("/quotes", json={"km": 1})
        async with gw.client.stream("GET", r.headers["location"], headers={"accept": "text/event-stream"}) as s:
            assert s.headers["content-type"].startswith("text/event-stream")
            text = b"".join([chunk async for chunk in s.aiter_bytes()]).decode()
        assert "event: reply" in text and '{"price":12.5}' in text


async def test_gather_lists_the_replies_within_the_window(broker_url: str, prefix: str) -> None:
    async with running(config(prefix), broker_url, services(prefix, {})) as gw:
        r = await gw.client.post("/offers", json={"ride": "r1"})
        assert r.status_code == 200
        replies = r.json()
        assert sorted(x["body"]["driver"] for x in replies) == [0, 1]
        assert {x["service"] for x in replies} == {f"{prefix}driver0", f"{prefix}driver1"}


async def test_nobody_serving_is_503_fast(broker_url: str, prefix: str) -> None:
    async with running(config(prefix), broker_url, []) as gw:
        r = await gw.client.get("/rides/r1")
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert prefix not in r.text
        ready = await gw.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["unserved"] == ["get_rides_ride_id"]
        assert (await gw.client.get("/healthz")).json() == {"status": "ok"}
