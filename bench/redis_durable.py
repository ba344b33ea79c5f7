"""Durable messaging on Redis Streams: raw redis-py and FastStream, both as their documentation shows.

Both modes are one stream read by one consumer group (a work queue and a
subscribing service look the same on Redis). The publisher awaits each
``XADD`` (``MAXLEN ~ 100000``, as interlink trims); the consumer reads up to 64
entries with ``XREADGROUP ... BLOCK`` and acks each batch with one ``XACK``
after handling it. The streams are deleted on close.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec
import redis.asyncio as aioredis
from faststream.redis import RedisBroker, StreamSub

from bench._faststream import FastStreamSide
from bench._stats import RAW
from bench._workload import DurableMode, Payload, Side, Sink

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode

MAXLEN = 100_000
GROUP = "bench"


def _stream(prefix: str, mode: DurableMode) -> str:
    return f"{prefix}:{mode.replace('-', '_')}"


class RedisDurableRaw(Side):
    name = RAW

    def __init__(self, url: str, mode: DurableMode) -> None:
        self.tests = frozenset({mode})
        self.stream = _stream("bench:raw", mode)
        self.server = aioredis.from_url(url)
        self.client = aioredis.from_url(url)
        self.task: asyncio.Task[None] | None = None

    async def start(self, sink: Sink) -> None:
        await self.server.delete(self.stream)
        await self.server.xgroup_create(self.stream, GROUP, id="0", mkstream=True)

        async def consume() -> None:
            while True:
                batches: Any = await self.server.xreadgroup(GROUP, "c1", {self.stream: ">"}, count=64, block=1000)
                for _, entries in batches or ():
                    for _, fields in entries:
                        sink.hit(_decode(fields[b"f"]))
                    await self.server.xack(self.stream, GROUP, *(entry_id for entry_id, _ in entries))

        self.task = asyncio.ensure_future(consume())

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        await self.client.delete(self.stream)
        await self.client.aclose()
        await self.server.aclose()

    async def publish(self, body: Payload) -> None:
        await self.client.xadd(self.stream, {"f": _encode(body)}, maxlen=MAXLEN, approximate=True)


class RedisDurableFastStream(FastStreamSide):
    """A stream subscriber in a consumer group; ``publish(stream=...)``."""

    server: RedisBroker
    client: RedisBroker

    def __init__(self, url: str, mode: DurableMode) -> None:
        self.url = url
        self.tests = frozenset({mode})
        self.stream = _stream("bench:fs", mode)
        self.server = RedisBroker(url, logger=None)  # type: ignore[arg-type]
        self.client = RedisBroker(url, logger=None)  # type: ignore[arg-type]

    async def _delete_stream(self) -> None:
        async with aioredis.from_url(self.url) as r:
            await r.delete(self.stream)

    prepare = cleanup = _delete_stream

    def subscribe(self, sink: Sink) -> None:
        @self.server.subscriber(stream=StreamSub(self.stream, group=GROUP, consumer="c1", max_records=64))
        async def on_event(body: dict[str, Any]) -> None:
            sink.hit(body)

    async def publish(self, body: Payload) -> None:
        await self.client.publish(body, stream=self.stream, maxlen=MAXLEN)
