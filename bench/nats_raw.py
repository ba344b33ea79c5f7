"""Raw nats-py, written the way its documentation shows, with msgspec for the JSON.

Core: a queue-group subscription answers requests with ``msg.respond``; the
client calls ``nc.request`` (one shared response inbox); pub/sub is
``nc.publish`` into a plain subscription. JetStream: the publisher awaits each
publish acknowledgement (``js.publish``); the subscriber is a durable pull
consumer fetching batches of 64 and acking each message after handling it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy

from bench._stats import RAW
from bench._workload import DurableMode, Payload, Side, Sink

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode


class NatsRaw(Side):
    name = RAW

    def __init__(self, url: str) -> None:
        self.url = url
        self.server: Client | None = None
        self.client: Client | None = None

    async def start(self, sink: Sink) -> None:
        self.server = await nats.connect(self.url)

        async def echo(msg: Msg) -> None:
            await msg.respond(_encode(_decode(msg.data)))

        async def on_event(msg: Msg) -> None:
            sink.hit(_decode(msg.data))

        await self.server.subscribe("bench.raw.echo", queue="bench", cb=echo)
        await self.server.subscribe("bench.raw.events", cb=on_event)
        await self.server.flush()
        self.client = await nats.connect(self.url)

    async def close(self) -> None:
        for nc in (self.client, self.server):
            if nc is not None:
                await nc.close()

    def version(self) -> str:
        return self.server.connected_server_version.__str__() if self.server is not None else "?"

    async def request(self, body: Payload) -> Payload:
        if self.client is None:
            raise RuntimeError("not started")
        msg = await self.client.request("bench.raw.echo", _encode(body), timeout=5.0)
        return _decode(msg.data)

    async def publish(self, body: Payload) -> None:
        if self.client is None:
            raise RuntimeError("not started")
        await self.client.publish("bench.raw.events", _encode(body))

    async def flush(self) -> None:
        if self.client is not None:
            await self.client.flush()


class JetStreamRaw(Side):
    """Durable publish (``limits`` stream) or notify (``workqueue`` stream) with a pull consumer."""

    name = RAW

    def __init__(self, url: str, mode: DurableMode, batch: int = 64) -> None:
        self.url = url
        self.tests = frozenset({mode})
        self.batch = batch
        self.stream = "BENCH_RAW_" + mode.replace("-", "_").upper()
        self.subject = "bench.raw." + mode.replace("-", "_")
        self.retention = RetentionPolicy.LIMITS if mode == "durable-publish" else RetentionPolicy.WORK_QUEUE
        self.server: Client | None = None
        self.client: Client | None = None
        self.js: JetStreamContext | None = None
        self._running = True
        self._task: Any = None

    async def start(self, sink: Sink) -> None:
        import asyncio

        self.server = await nats.connect(self.url)
        server_js = self.server.jetstream()
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await server_js.delete_stream(self.stream)
        await server_js.add_stream(name=self.stream, subjects=[self.subject], retention=self.retention)
        psub = await server_js.pull_subscribe(self.subject, durable="bench-raw", stream=self.stream)

        async def consume() -> None:
            while self._running:
                try:
                    msgs = await psub.fetch(self.batch, timeout=0.5)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                for msg in msgs:
                    sink.hit(_decode(msg.data))
                    await msg.ack()

        self._task = asyncio.ensure_future(consume())
        self.client = await nats.connect(self.url)
        self.js = self.client.jetstream()

    async def close(self) -> None:
        self._running = False
        if self._task is not None:
            await self._task
        if self.server is not None:
            try:
                await self.server.jetstream().delete_stream(self.stream)
            finally:
                await self.server.close()
        if self.client is not None:
            await self.client.close()

    async def publish(self, body: Payload) -> None:
        if self.js is None:
            raise RuntimeError("not started")
        await self.js.publish(self.subject, _encode(body))
