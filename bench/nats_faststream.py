"""FastStream's NatsBroker, run as its documentation shows.

The server is one NatsBroker with a queue-group subscriber that returns the
body (its reply), and a subscriber that counts events; the client is a second
NatsBroker calling ``broker.request(...)`` and ``broker.publish(...)``.
Handlers take ``body: dict`` (FastStream validates it). Per-message access
logging is off (``logger=None``), as in production. Durable: a JetStream
subscriber with a durable pull consumer (``PullSub(batch_size=64)``); the
client publishes with ``stream=`` so each publish awaits its acknowledgement.
"""

from __future__ import annotations

import contextlib
from typing import Any

import nats
from faststream.nats import JStream, NatsBroker, PullSub
from nats.js.api import RetentionPolicy

from bench._faststream import FastStreamSide
from bench._workload import DurableMode, Payload, Sink


class NatsFastStream(FastStreamSide):
    server: NatsBroker
    client: NatsBroker

    def __init__(self, url: str) -> None:
        self.server = NatsBroker(url, logger=None)
        self.client = NatsBroker(url, logger=None)

    def subscribe(self, sink: Sink) -> None:
        @self.server.subscriber("bench.fs.echo", queue="bench")
        async def echo(body: dict[str, Any]) -> dict[str, Any]:
            return body

        @self.server.subscriber("bench.fs.events")
        async def on_event(body: dict[str, Any]) -> None:
            sink.hit(body)

    async def request(self, body: Payload) -> Payload:
        return await self.call("bench.fs.echo", body)

    async def publish(self, body: Payload) -> None:
        await self.client.publish(body, "bench.fs.events")


class JetStreamFastStream(FastStreamSide):
    server: NatsBroker
    client: NatsBroker

    def __init__(self, url: str, mode: DurableMode) -> None:
        self.url = url
        self.tests = frozenset({mode})
        self.stream = "BENCH_FS_" + mode.replace("-", "_").upper()
        self.subject = "bench.fs." + mode.replace("-", "_")
        self.work_queue = mode == "durable-notify"
        self.server = NatsBroker(url, logger=None)
        self.client = NatsBroker(url, logger=None)

    async def _delete_stream(self) -> None:
        nc = await nats.connect(self.url)
        try:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await nc.jetstream().delete_stream(self.stream)
        finally:
            await nc.close()

    prepare = cleanup = _delete_stream

    def subscribe(self, sink: Sink) -> None:
        retention = RetentionPolicy.WORK_QUEUE if self.work_queue else RetentionPolicy.LIMITS
        stream = JStream(self.stream, subjects=[self.subject], retention=retention)

        @self.server.subscriber(self.subject, stream=stream, durable="bench-fs", pull_sub=PullSub(batch_size=64))
        async def on_event(body: dict[str, Any]) -> None:
            sink.hit(body)

    async def publish(self, body: Payload) -> None:
        await self.client.publish(body, self.subject, stream=self.stream)
