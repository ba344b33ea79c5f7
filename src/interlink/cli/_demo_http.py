"""The part of the taxi demo that goes through the API gateway over real HTTP.

A phone signs in (a JWT), opens its live-updates stream (SSE), asks for a ride
(POST /rides), waits for the driver proposal on the stream, reads the composed
ride status (GET /rides/{id}) and cancels (DELETE /rides/{id}). Importing this module
needs the gateway extra (an ImportError tells the demo to skip this part).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from typing import Any

import jwt
import uvicorn

import interlink
from interlink.cli._http_client import Client
from interlink.gateway import Gateway, server_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def run_http_rides(bus: interlink.Bus, rides: int, services: list[Any], config_path: Any,
                         recorder: Any) -> dict[str, Any]:
    """Serve the taxi gateway on a free loopback port and drive ``rides`` rides through it."""
    gateway = await Gateway(config_path, bus, services=services).start()
    port = _free_port()
    server = uvicorn.Server(server_config(gateway, "127.0.0.1", port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    secret = os.environ.get("TAXI_JWT_SECRET", "taxi-demo-secret-change-me-in-production")
    results: dict[str, Any] = {"rides": rides, "completed": 0, "status_codes": {}, "latency_ms": []}
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        http = Client("127.0.0.1", port)
        outcomes = await asyncio.gather(*(
            _one_ride(http, secret, f"phone{n}", results, recorder) for n in range(rides)),
            return_exceptions=True)
        results["completed"] = sum(1 for o in outcomes if o is True)
        results["errors"] = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await gateway.close()
    return results


def _count(results: dict[str, Any], what: str, status: int) -> None:
    key = f"{what} {status}"
    results["status_codes"][key] = results["status_codes"].get(key, 0) + 1


async def _one_ride(http: Client, secret: str, passenger: str, results: dict[str, Any], recorder: Any) -> bool:
    token = jwt.encode({"sub": passenger, "aud": "taxi-phone", "exp": int(time.time()) + 300}, secret,
                       algorithm="HS256")
    auth = {"authorization": f"Bearer {token}"}
    ride_id = f"h{uuid.uuid4().hex[:10]}"
    proposed: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    opened = asyncio.Event()

    async def listen() -> None:
        async with http.lines(f"/passengers/{passenger}/events", headers=auth) as (status, lines):
            _count(results, "GET /passengers/{id}/events", status)
            opened.set()
            async for line in lines:
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    if event["body"].get("ride_id") == ride_id and not proposed.done():
                        proposed.set_result(event["body"])
                        return

    listener = asyncio.create_task(listen())
    try:
        await asyncio.wait_for(opened.wait(), 5)
        await asyncio.sleep(0.05)  # the stream's subscription is live before the ride starts
        started = time.monotonic()
        answer = await http.request("POST", "/rides", headers=auth, json_body={
            "ride_id": ride_id, "pickup": {"lat": 52.52, "lon": 13.40}, "dropoff": {"lat": 52.50, "lon": 13.45},
            "requested_at": time.time()})
        _count(results, "POST /rides", answer.status_code)
        if answer.status_code != 202:
            return False
        recorder.step(ride_id, "notification", "phone (HTTP)", "gateway", "POST /rides")
        note = await asyncio.wait_for(proposed, 10)
        results["latency_ms"].append(round((time.monotonic() - started) * 1000, 2))
        for _ in range(50):  # trip learns of the proposal on its own (eventually consistent): ask again
            status = await http.request("GET", f"/rides/{ride_id}", headers=auth)
            document = status.json()
            if status.status_code != 200 or document["trip"]["status"] == "driver_proposed":
                break
            await asyncio.sleep(0.05)
        _count(results, "GET /rides/{id}", status.status_code)
        cancel = await http.request("DELETE", f"/rides/{ride_id}", headers=auth,
                                    params={"reason": "changed my mind"})
        _count(results, "DELETE /rides/{id}", cancel.status_code)
        return (note["kind"] == "driver_proposed" and status.status_code == 200
                and document["trip"]["status"] == "driver_proposed" and document["driver"] is not None
                and cancel.status_code == 202)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener
