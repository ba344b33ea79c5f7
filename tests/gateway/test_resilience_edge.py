"""Partial failure at the edge: timeouts (504), breakers (503 at once), saturation (503 fast), fallbacks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from interlink import Service
from tests.gateway.conftest import running


class Backend:
    def __init__(self) -> None:
        self.failing = False
        self.delay = 0.0
        self.calls = 0


def service(p: str, backend: Backend) -> Service:
    svc = Service(f"{p}backend")

    @svc.endpoint(f"{p}.work")
    async def work(body: Any) -> dict[str, Any]:
        backend.calls += 1
        if backend.delay:
            await asyncio.sleep(backend.delay)
        if backend.failing:
            raise RuntimeError("backend failure")
        return {"ok": True}
    return svc


def config(p: str) -> str:
    return f"""
routes:
  - path: /work
    request: {p}.work
    idempotent: false
    timeout: 0.3
    breaker: {{min_calls: 4, failure_rate: 0.5, window: 10, cool_down: 0.5}}
  - path: /narrow
    request: {p}.work
    max_concurrent: 2
    timeout: 2.0
  - path: /soft
    request: {p}.work
    timeout: 0.2
    retries: 1
    fallback: {{body: {{ok: false, cached: true}}}}
"""


async def test_a_slow_service_gives_504_at_the_route_timeout(broker_url: str, prefix: str) -> None:
    backend = Backend()
    backend.delay = 1.0
    async with running(config(prefix), broker_url, [service(prefix, backend)]) as gw:
        start = time.monotonic()
        r = await gw.client.get("/work")
        assert r.status_code == 504 and r.json()["error"] == "timeout"
        assert 0.25 < time.monotonic() - start < 0.8


async def test_breaker_opens_refuses_at_once_and_closes_after_a_probe(broker_url: str, prefix: str) -> None:
    backend = Backend()
    backend.failing = True
    async with running(config(prefix), broker_url, [service(prefix, backend)]) as gw:
        statuses = [(await gw.client.get("/work")).status_code for _ in range(4)]
        assert statuses == [502, 502, 502, 502]
        start = time.monotonic()
        refused = await gw.client.get("/work")
        assert refused.status_code == 503 and refused.json()["error"] == "unavailable"
        assert refused.headers["retry-after"] == "1" and time.monotonic() - start < 0.25
        assert backend.calls == 4  # the open breaker kept the call from the service
        metrics = (await gw.client.get("/metrics")).text
        assert 'interlink_gateway_breaker_state{route="get_work"} 2.0' in metrics
        backend.failing = False
        await asyncio.sleep(0.55)  # the cool-down
        assert (await gw.client.get("/work")).status_code == 200  # the probe succeeds: closed again
        assert (await gw.client.get("/work")).status_code == 200
        metrics = (await gw.client.get("/metrics")).text
        assert 'interlink_gateway_breaker_state{route="get_work"} 0.0' in metrics


async def test_saturation_gives_503_fast_with_retry_after(broker_url: str, prefix: str) -> None:
    backend = Backend()
    backend.delay = 0.5
    async with running(config(prefix), broker_url, [service(prefix, backend)]) as gw:
        slow = [asyncio.create_task(gw.client.get("/narrow")) for _ in range(2)]
        for _ in range(100):
            if backend.calls == 2:
                break
            await asyncio.sleep(0.01)
        start = time.monotonic()
        r = await gw.client.get("/narrow")
        assert r.status_code == 503 and r.json()["error"] == "overloaded"
        assert r.headers["retry-after"] == "1" and time.monotonic() - start < 0.25  # not after the 0.5 s
        assert [s.status_code for s in await asyncio.gather(*slow)] == [200, 200]
        assert backend.calls == 2


async def test_route_fallback_when_the_service_is_down(broker_url: str, prefix: str) -> None:
    async with running(config(prefix), broker_url, []) as gw:
        r = await gw.client.get("/soft")
        assert r.status_code == 200 and r.json() == {"ok": False, "cached": True}
        assert r.headers["x-fallback"] == "true"
