"""FastStream's RedisBroker, run as its documentation shows (channel subscribers).

The server is one RedisBroker with a channel subscriber that returns the body
and a channel subscriber that counts events; the client is a second
RedisBroker calling ``broker.request(...)`` (which opens a pub/sub
subscription per request) and ``broker.publish(...)``. Per-message access
logging is off (``logger=None``).
"""

from __future__ import annotations

from typing import Any

from faststream.redis import RedisBroker

from bench._faststream import FastStreamSide
from bench._workload import Payload, Sink


class RedisFastStream(FastStreamSide):
    server: RedisBroker
    client: RedisBroker

    def __init__(self, url: str) -> None:
        self.server = RedisBroker(url, logger=None)  # type: ignore[arg-type]
        self.client = RedisBroker(url, logger=None)  # type: ignore[arg-type]

    def subscribe(self, sink: Sink) -> None:
        @self.server.subscriber("bench.fs.echo")
        async def echo(body: dict[str, Any]) -> dict[str, Any]:
            return body

        @self.server.subscriber("bench.fs.events")
        async def on_event(body: dict[str, Any]) -> None:
            sink.hit(body)

    async def request(self, body: Payload) -> Payload:
        return await self.call("bench.fs.echo", body)

    async def publish(self, body: Payload) -> None:
        await self.client.publish(body, "bench.fs.events")
