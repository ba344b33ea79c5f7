"""OpenAPI 3.1 from the routes, and schemathesis against /openapi.json: no answer is a 5xx."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import hypothesis
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from interlink import Service, ServiceError
from interlink.testing import unique
from tests.gateway.conftest import running


class Passenger(msgspec.Struct):
    name: str
    rating: int = 5


class Booking(msgspec.Struct, forbid_unknown_fields=True):
    passenger_id: str
    seats: int
    notes: list[str] = []


class Booked(msgspec.Struct):
    booking_id: str
    seats: int


def services(p: str) -> list[Service]:
    svc = Service(f"{p}api")

    @svc.endpoint(f"{p}.book")
    async def book(body: Booking) -> Booked:
        if body.seats > 8:
            raise ServiceError("invalid", "too many seats")
        return Booked(f"b-{body.passenger_id}", body.seats)

    @svc.endpoint(f"{p}.passenger")
    async def passenger(body: Passenger) -> Passenger:
        return body

    @svc.endpoint(f"{p}.ride")
    async def ride(body: dict[str, Any]) -> dict[str, Any]:
        return {"ride": body.get("id")}

    @svc.endpoint(f"{p}.note")
    async def note(body: Any) -> None:
        return None

    @svc.subscribe(f"{p}.offer")
    async def offer(body: Any) -> str:
        return "yes"

    return [svc]


def config(p: str) -> dict[str, Any]:
    return {"title": "Rides", "version": "2.0.0", "routes": [
        {"method": "POST", "path": "/bookings", "request": f"{p}.book", "summary": "Book seats", "tags": ["rides"]},
        {"path": "/passengers/{name}", "request": f"{p}.passenger"},
        {"path": "/rides/{id:int}", "request": f"{p}.ride", "input": {"id": "path.id", "v": "query.verbose"}},
        {"method": "POST", "path": "/notes", "notify": f"{p}.note"},
        {"method": "POST", "path": "/quotes", "send": f"{p}.book"},
        {"method": "POST", "path": "/offers", "gather": f"{p}.offer", "within": 0.05},
        {"path": "/status/{id}", "compose": {"parts": [
            {"name": "ride", "request": f"{p}.ride", "input": {"id": "path.id"}},
            {"name": "extra", "request": f"{p}.nobody", "required": False, "timeout": 0.1}]}},
        {"path": "/live", "stream": f"{p}.events.>"},
    ]}


async def test_document_describes_routes_and_message_schemas(memory_url: str, prefix: str) -> None:
    svc = services(prefix)
    async with running(config(prefix), memory_url, svc, known=svc) as gw:
        doc = (await gw.client.get("/openapi.json")).json()
    assert doc["openapi"] == "3.1.0" and doc["info"] == {"title": "Rides", "version": "2.0.0"}
    book = doc["paths"]["/bookings"]["post"]
    assert book["summary"] == "Book seats" and book["tags"] == ["rides"]
    assert book["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Booking"}
    assert doc["components"]["schemas"]["Booking"]["required"] == ["passenger_id", "seats"]
    assert book["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Booked")
    assert {"422", "503", "504"} <= set(book["responses"])
    ride = doc["paths"]["/rides/{id}"]["get"]
    assert {(p["name"], p["in"]) for p in ride["parameters"]} == {("id", "path"), ("verbose", "query")}
    passenger = doc["paths"]["/passengers/{name}"]["get"]["parameters"]
    assert {"name": "rating", "in": "query", "required": False, "schema": {"type": "integer"}} in passenger
    assert "Location" in doc["paths"]["/quotes"]["post"]["responses"]["202"]["headers"]
    assert "text/event-stream" in doc["paths"]["/live"]["get"]["responses"]["200"]["content"]
    assert prefix not in str(doc["paths"])  # subjects stay inside


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """A gateway in a thread of its own (schemathesis calls it synchronously)."""
    p = unique("g")
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        box["stop"] = (asyncio.get_running_loop(), stop)
        async with running(config(p), f"memory://{unique('gw')}", services(p), known=services(p)) as gw:
            box["url"] = gw.url
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    if not ready.wait(20):
        raise RuntimeError("the gateway did not start")
    yield box["url"]
    loop, stop = box["stop"]
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


def test_schemathesis_finds_no_server_errors(served: str) -> None:
    schema = schemathesis.openapi.from_url(f"{served}/openapi.json")
    checked: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/live":  # an endless event stream
            continue
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            _fuzz(operation, mode, served)
        checked.append(f"{operation.method.upper()} {operation.path}")
    assert len(checked) == 10


def _fuzz(operation: Any, mode: Any, url: str) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=8, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.generate])
    def run(case: Any) -> None:
        response = case.call(base_url=url, timeout=5)
        assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text)
        if response.status_code >= 400:
            assert response.json()["error"]  # always the short JSON error

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        if mode is schemathesis.GenerationMode.POSITIVE:
            raise  # only an operation without inputs has no invalid requests to make

