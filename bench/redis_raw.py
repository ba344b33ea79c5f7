"""Raw redis-py (asyncio, hiredis parser), with msgspec for the JSON.

Requests: the client pushes ``reply-list cid body`` onto a request list
(competing consumers); the server pops up to 64 at a time with ``BLMPOP``,
answers each onto the caller's reply list, and the client's one reader pops
its replies the same way and resolves the caller's future. Pub/sub: ``PUBLISH``
into a channel read by one ``SUBSCRIBE`` connection, each reply awaited; the pipelined
side queues ``PUBLISH`` commands and sends them 64 per round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from bench._stats import RAW, RAW_PIPELINED
from bench._workload import Payload, Side, Sink

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode
REQUESTS = "bench:raw:echo"
EVENTS = "bench.raw.events"
PIPELINED_EVENTS = "bench.raw.pipelined.events"
BATCH = 64


async def _pop_batches(r: aioredis.Redis, key: str) -> list[bytes]:
    """Up to BATCH items, waiting at most a second for the first."""
    popped: Any = await r.blmpop(1, 1, key, direction="RIGHT", count=BATCH)
    return list(popped[1]) if popped else []


class RedisRaw(Side):
    name = RAW

    def __init__(self, url: str) -> None:
        self.url = url
        self.server = aioredis.from_url(url)
        self.client = aioredis.from_url(url)
        self.reply_key = f"bench:raw:reply:{uuid.uuid4().hex[:8]}"
        self.pending: dict[bytes, asyncio.Future[bytes]] = {}
        self.ids = itertools.count(1)
        self.tasks: list[asyncio.Task[None]] = []
        self.pubsub: PubSub | None = None

    async def start(self, sink: Sink) -> None:
        await self.server.delete(REQUESTS)
        self.pubsub = self.server.pubsub(ignore_subscribe_messages=True)
        await self.pubsub.subscribe(EVENTS)
        pubsub = self.pubsub

        async def serve() -> None:
            while True:
                items = await _pop_batches(self.server, REQUESTS)
                if not items:
                    continue
                pipe = self.server.pipeline(transaction=False)
                for item in items:
                    reply_key, cid, body = item.split(b" ", 2)
                    pipe.lpush(reply_key, cid + b" " + _encode(_decode(body)))
                await pipe.execute()

        async def read_replies() -> None:
            while True:
                for item in await _pop_batches(self.client, self.reply_key):
                    cid, body = item.split(b" ", 1)
                    future = self.pending.pop(cid, None)
                    if future is not None and not future.done():
                        future.set_result(body)

        async def listen() -> None:
            async for msg in pubsub.listen():
                if msg["type"] == "message":
                    sink.hit(_decode(msg["data"]))

        self.tasks = [asyncio.ensure_future(t()) for t in (serve, read_replies, listen)]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.pubsub is not None:
            await self.pubsub.aclose()  # type: ignore[no-untyped-call]
        await self.client.delete(self.reply_key)
        await self.client.aclose()
        await self.server.aclose()

    async def request(self, body: Payload) -> Payload:
        cid = str(next(self.ids)).encode()
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[cid] = future
        try:
            await self.client.lpush(REQUESTS, f"{self.reply_key} ".encode() + cid + b" " + _encode(body))
            return _decode(await asyncio.wait_for(future, 5.0))
        finally:
            self.pending.pop(cid, None)

    async def publish(self, body: Payload) -> None:
        await self.client.publish(EVENTS, _encode(body))


class RedisRawPipelined(Side):
    """Pub/sub with redis-py as a throughput-minded user writes it: PUBLISH commands queued in a
    pipeline and sent ``BATCH`` at a time (one round trip per batch), read by one ``SUBSCRIBE`` connection."""

    name = RAW_PIPELINED
    tests = frozenset({"pubsub"})

    def __init__(self, url: str) -> None:
        self.server = aioredis.from_url(url)
        self.client = aioredis.from_url(url)
        self.pipe = self.client.pipeline(transaction=False)
        self.queued = 0
        self.pubsub: PubSub | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self, sink: Sink) -> None:
        self.pubsub = self.server.pubsub(ignore_subscribe_messages=True)
        await self.pubsub.subscribe(PIPELINED_EVENTS)
        pubsub = self.pubsub

        async def listen() -> None:
            async for msg in pubsub.listen():
                if msg["type"] == "message":
                    sink.hit(_decode(msg["data"]))

        self.task = asyncio.ensure_future(listen())

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        if self.pubsub is not None:
            await self.pubsub.aclose()  # type: ignore[no-untyped-call]
        await self.client.aclose()
        await self.server.aclose()

    async def publish(self, body: Payload) -> None:
        self.pipe.publish(PIPELINED_EVENTS, _encode(body))
        self.queued += 1
        if self.queued >= BATCH:
            await self.flush()

    async def flush(self) -> None:
        if self.queued:
            self.queued = 0
            await self.pipe.execute()
