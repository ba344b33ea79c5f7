"""Compose routes: parallel and sequential parts, optional parts failing, required parts failing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from interlink import Service, ServiceError
from tests.gateway.conftest import running


def services(p: str, calls: list[str]) -> list[Service]:
    trip, driver, billing = Service(f"{p}trip"), Service(f"{p}driver"), Service(f"{p}billing")

    @trip.endpoint(f"{p}.trip.get")
    async def get_trip(body: dict[str, Any]) -> dict[str, Any]:
        calls.append("trip")
        await asyncio.sleep(0.2)
        if body["id"] == "missing":
            raise ServiceError("not_found", "no such ride")
        return {"id": body["id"], "driver_id": "d1", "status": "on_the_way"}

    @driver.endpoint(f"{p}.driver.get")
    async def get_driver(body: dict[str, Any]) -> dict[str, Any]:
        calls.append(f"driver:{body['id']}")
        if body.get("id") == "d1" and body.get("slow"):
            await asyncio.sleep(0.5)
        return {"name": "Ada", "car": "blue"}

    @billing.endpoint(f"{p}.billing.estimate")
    async def estimate(body: dict[str, Any]) -> dict[str, Any]:
        calls.append("billing")
        await asyncio.sleep(0.2)
        if body["id"] == "nobill":
            raise RuntimeError("billing is down")
        return {"estimate": 12.5}

    return [trip, driver, billing]


def config(p: str) -> str:
    return f"""
routes:
  - path: /rides/{{id}}
    timeout: 2.0
    compose:
      parts:
        - name: trip
          request: {p}.trip.get
          input: {{id: path.id}}
        - name: billing
          request: {p}.billing.estimate
          input: {{id: path.id}}
          required: false
        - name: driver
          request: {p}.driver.get
          input: {{id: parts.trip.driver_id, slow: query.slow}}
          required: false
          timeout: 0.3
  - path: /flat/{{id}}
    compose:
      merge: true
      parts:
        - {{name: trip, request: {p}.trip.get, input: {{id: path.id}}}}
        - {{name: billing, request: {p}.billing.estimate, input: {{id: path.id}}, required: false,
            fallback: {{body: {{estimate: null}}}}}}
  - path: /needs-billing/{{id}}
    compose:
      parts:
        - {{name: trip, request: {p}.trip.get, input: {{id: path.id}}}}
        - {{name: billing, request: {p}.billing.estimate, input: {{id: path.id}}}}
"""


async def test_parts_run_in_parallel_and_in_sequence(broker_url: str, prefix: str) -> None:
    calls: list[str] = []
    async with running(config(prefix), broker_url, services(prefix, calls)) as gw:
        start = time.monotonic()
        r = await gw.client.get("/rides/r1")
        elapsed = time.monotonic() - start
        assert r.status_code == 200, r.text
        assert r.json() == {"trip": {"id": "r1", "driver_id": "d1", "status": "on_the_way"},
                            "billing": {"estimate": 12.5}, "driver": {"name": "Ada", "car": "blue"}}
        assert "x-incomplete" not in r.headers
        assert calls.index("driver:d1") > calls.index("trip")  # it needed the trip's driver_id
        assert elapsed < 0.38  # trip and billing (0.2 s each) ran side by side


async def test_a_failing_optional_part_marks_the_answer_incomplete(broker_url: str, prefix: str) -> None:
    async with running(config(prefix), broker_url, services(prefix, [])) as gw:
        r = await gw.client.get("/rides/nobill", params={"slow": "1"})
        assert r.status_code == 200
        body = r.json()
        assert body["trip"]["id"] == "nobill"
        assert body["billing"] is None and body["driver"] is None
        assert body["_incomplete"] == ["billing", "driver"]
        assert r.headers["x-incomplete"] == "billing, driver"


async def test_merged_document_with_a_part_fallback(broker_url: str, prefix: str) -> None:
    async with running(config(prefix), broker_url, services(prefix, [])) as gw:
        r = await gw.client.get("/flat/r2")
        assert r.json() == {"id": "r2", "driver_id": "d1", "status": "on_the_way", "estimate": 12.5}
        r = await gw.client.get("/flat/nobill")
        assert r.json()["estimate"] is None and r.json()["_incomplete"] == ["billing"]


async def test_a_failing_required_part_fails_the_request(broker_url: str, prefix: str) -> None:
    async with running(config(prefix), broker_url, services(prefix, [])) as gw:
        r = await gw.client.get("/needs-billing/nobill")
        assert r.status_code == 502 and r.json()["error"] == "bad_gateway"
        r = await gw.client.get("/rides/missing")
        assert r.status_code == 404 and r.json()["message"] == "no such ride"
