"""Stream routes: published events reach browsers by Server-Sent Events and WebSocket."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.gateway.conftest import running


def config(p: str) -> str:
    return f"""
routes:
  - path: /rides/{{ride_id}}/events
    stream: {p}.ride.{{ride_id}}.>
  - path: /all
    stream: {p}.>
"""


async def test_sse_delivers_the_messages_of_its_ride_only(broker_url: str, prefix: str) -> None:
    async with running(config(prefix), broker_url) as gw:
        async with gw.client.stream("GET", "/rides/r1/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            assert await anext(lines) == ": connected"
            await gw.bus.publish(f"{prefix}.ride.r2.status", {"ride": "r2"}, durable=False)  # not this ride
            await gw.bus.publish(f"{prefix}.ride.r1.status", {"status": "driver_assigned"}, durable=False)
            data = await asyncio.wait_for(_next_data(lines), 5)
        assert data == {"subject": f"{prefix}.ride.r1.status", "body": {"status": "driver_assigned"}}


async def _next_data(lines: object) -> object:
    async for line in lines:  # type: ignore[attr-defined]
        if line.startswith("data: "):
            return json.loads(line[6:])
    raise AssertionError("stream ended")


async def test_websocket_delivers_published_events(broker_url: str, prefix: str) -> None:
    async with running(config(prefix), broker_url) as gw:
        async with websockets.connect(gw.ws_url + "/rides/r5/events") as ws:
            await asyncio.sleep(0.05)  # the client is registered once the handshake is answered
            await gw.bus.publish(f"{prefix}.ride.r5.location", {"lat": 1.5}, durable=False)
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame == {"subject": f"{prefix}.ride.r5.location", "body": {"lat": 1.5}}
        for _ in range(100):  # the server side lets go of the client once it leaves
            if gw.gateway.hub.count == 0:
                break
            await asyncio.sleep(0.01)
        assert gw.gateway.hub.count == 0


async def test_overlapping_streams_get_each_message_once(memory_url: str, prefix: str) -> None:
    async with running(config(prefix), memory_url) as gw, websockets.connect(gw.ws_url + "/all") as ws:
        await asyncio.sleep(0.05)
        for n in range(3):
            await gw.bus.publish(f"{prefix}.ride.r1.status", {"n": n}, durable=False)
        frames = [json.loads(await asyncio.wait_for(ws.recv(), 5))["body"]["n"] for _ in range(3)]
        assert frames == [0, 1, 2]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.2)


async def test_stream_path_parameter_cannot_widen_the_subscription(memory_url: str, prefix: str) -> None:
    async with running(config(prefix), memory_url) as gw:
        r = await gw.client.get("/rides/*/events")
        assert r.status_code == 422
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(gw.ws_url + "/rides/%3E/events"):
                pass
        assert refused.value.response.status_code == 422


async def test_too_many_streams_is_503(memory_url: str, prefix: str) -> None:
    text = config(prefix) + "limits: {max_streams: 1}\n"
    async with running(text, memory_url) as gw, gw.client.stream("GET", "/all") as first:
        assert first.status_code == 200
        await anext(first.aiter_lines())
        second = await gw.client.get("/all")
        assert second.status_code == 503 and "retry-after" in second.headers
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(gw.ws_url + "/all"):
                pass


async def test_unknown_websocket_path_is_refused(memory_url: str, prefix: str) -> None:
    async with running(config(prefix), memory_url) as gw:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(gw.ws_url + "/nowhere"):
                pass
        assert refused.value.response.status_code == 404
