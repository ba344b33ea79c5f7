"""Raw clients that speak to interlink's channels the way an outsider would, bytes and all.

Each can put a message with any body and any headers (names and values as
bytes, or typed values where the broker has types) on a served endpoint's
stored channel, on a subscription's channel, and as a request. Nothing here
goes through interlink: NATS is spoken over a bare socket (nats-py only
listens for replies), RabbitMQ through aiormq frames, Redis with redis-py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import uuid
from typing import Any

import aio_pika
import msgspec
import nats
import redis.asyncio as aioredis
from pamqp.commands import Basic

Headers = list[tuple[bytes, bytes]]
Reply = tuple[bytes, dict[str, Any]]


class RawNats:
    """HPUB over a plain socket; replies heard with nats-py on an inbox."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._listener: Any = None

    async def start(self) -> RawNats:
        self._listener = await nats.connect(self.url)
        await self._dial()
        return self

    async def _dial(self) -> None:
        host, port = self.url.removeprefix("nats://").split("?")[0].split(":")
        self._reader, self._writer = await asyncio.open_connection(host, int(port), limit=1 << 22)
        await self._reader.readline()  # INFO
        connect = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True, "protocol": 1}
        self._writer.write(b"CONNECT " + json.dumps(connect).encode() + b"\r\n")
        await self._roundtrip()

    async def _roundtrip(self) -> str:
        """PING until PONG: the server has read everything before it. Returns any -ERR it said."""
        assert self._writer is not None and self._reader is not None
        self._writer.write(b"PING\r\n")
        await self._writer.drain()
        said = ""
        while True:
            line = (await asyncio.wait_for(self._reader.readline(), 10)).decode(errors="replace").strip()
            if not line:
                raise ConnectionError("server closed the connection: " + said)
            if line == "PONG":
                return said
            if line.startswith("-ERR"):
                said += line
            if line == "PING":
                self._writer.write(b"PONG\r\n")

    async def put(self, subject: str, body: bytes, headers: Headers | None, reply: str = "") -> str:
        """Publish ``body`` with ``headers`` exactly as given; returns the server's -ERR, if any."""
        assert self._writer is not None
        target = f"{subject} {reply}".strip().encode()
        if headers is None:
            self._writer.write(b"PUB %s %d\r\n%s\r\n" % (target, len(body), body))
        else:
            block = b"NATS/1.0\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in headers) + b"\r\n"
            self._writer.write(b"HPUB %s %d %d\r\n%s%s\r\n" % (target, len(block), len(block) + len(body),
                                                                block, body))
        try:
            return await self._roundtrip()
        except (ConnectionError, OSError) as exc:  # the server hung up (a -ERR that ends the connection)
            await self._dial()
            return str(exc)

    async def send(self, subject: str, body: bytes, headers: Headers | None) -> str:
        return await self.put("_il.q." + subject, body, headers)

    async def publish(self, subject: str, body: bytes, headers: Headers | None) -> str:
        return await self.put("_il.e.d." + subject, body, headers)

    async def request(self, subject: str, body: bytes, headers: Headers | None, timeout: float) -> Reply | None:
        inbox = self._listener.new_inbox()
        sub = await self._listener.subscribe(inbox, max_msgs=1)
        await self._listener.flush()
        try:
            await self.put(subject, body, headers, inbox)
            msg = await sub.next_msg(timeout=timeout)
            return msg.data, dict(msg.headers or {})
        except nats.errors.TimeoutError:
            return None
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._listener is not None:
            await self._listener.close()


class RawText(str):
    """A header value that pamqp writes as an AMQP long string of exactly these bytes (UTF-8 or not)."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawText:
        text = super().__new__(cls, raw.decode("latin-1"))
        text.raw = raw
        return text

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


class RawRabbit:
    """Frames published with aiormq on a confirm channel, headers of any AMQP type."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self._connection: Any = None
        self._channel: Any = None

    async def start(self) -> RawRabbit:
        self._connection = await aio_pika.connect(self.url)
        self._channel = await (await self._connection.channel(publisher_confirms=True)).get_underlay_channel()
        return self

    async def put(self, exchange: str, routing_key: str, body: bytes, headers: dict[str, Any] | None,
                  **properties: Any) -> None:
        props = Basic.Properties(headers=headers, delivery_mode=2, **properties)
        await self._channel.basic_publish(body, exchange=exchange, routing_key=routing_key, properties=props)

    async def send(self, subject: str, body: bytes, headers: dict[str, Any] | None) -> None:
        await self.put("", f"{self.prefix}.ep.{subject}", body, headers)

    async def publish(self, subject: str, body: bytes, headers: dict[str, Any] | None) -> None:
        await self.put(f"{self.prefix}.events", subject, body, headers)

    async def request(self, subject: str, body: bytes, headers: dict[str, Any] | None,
                      timeout: float) -> Reply | None:
        channel = await self._connection.channel()
        try:
            replies: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
            queue = await channel.get_queue("amq.rabbitmq.reply-to", ensure=False)
            await queue.consume(replies.put, no_ack=True)
            await channel.default_exchange.publish(
                aio_pika.Message(body, headers=headers, reply_to="amq.rabbitmq.reply-to", correlation_id="c1"),
                routing_key=f"{self.prefix}.rq.{subject}")
            try:
                reply = await asyncio.wait_for(replies.get(), timeout)
            except TimeoutError:
                return None
            return reply.body, dict(reply.headers or {})
        finally:
            await channel.close()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


def mp_str(raw: bytes) -> bytes:
    """A MessagePack str of exactly these bytes (UTF-8 or not)."""
    return b"\xdb" + struct.pack(">I", len(raw)) + raw


def mp_frame(subject: bytes, headers: Headers, body: bytes, *extra: bytes) -> bytes:
    """``[subject, {name: value}, body, *extra]`` with strings of raw bytes; ``extra`` already encoded."""
    pairs = b"".join(mp_str(k) + mp_str(v) for k, v in headers)
    return (b"\xdd" + struct.pack(">I", 3 + len(extra)) + mp_str(subject) + b"\xdf" + struct.pack(">I", len(headers))
            + pairs + b"\xc6" + struct.pack(">I", len(body)) + body + b"".join(extra))


class RawRedis:
    """Stream entries and list items written with redis-py, frames of any bytes."""

    def __init__(self, url: str, prefix: str) -> None:
        self.client = aioredis.Redis.from_url(url.split("?")[0])
        self.prefix = prefix
        self.id = uuid.uuid4().hex[:8]

    async def start(self) -> RawRedis:
        await self.client.ping()
        return self

    async def entry(self, key: str, fields: dict[bytes, bytes]) -> None:
        await self.client.xadd(key, fields)  # type: ignore[arg-type]

    async def send(self, subject: str, frame: bytes, **more: bytes) -> None:
        await self.entry(f"{self.prefix}:q:{subject}", {b"f": frame, **{k.encode(): v for k, v in more.items()}})

    async def publish(self, group: str, pattern: str, frame: bytes) -> None:
        await self.entry(f"{self.prefix}:g:{group}:{pattern}", {b"f": frame})

    async def request(self, subject: str, subject_raw: bytes, headers: Headers, body: bytes,
                      timeout: float) -> Reply | None:
        channel = f"{self.prefix}:in:raw{self.id}"
        pubsub = self.client.pubsub()
        await pubsub.subscribe(channel)
        try:
            expires = msgspec.msgpack.encode(2**53)
            frame = mp_frame(subject_raw, headers, body, mp_str(f"{channel}|t1".encode()), expires)
            await self.client.rpush(f"{self.prefix}:rq:{subject}", frame)
            end = asyncio.get_running_loop().time() + timeout
            while (left := end - asyncio.get_running_loop().time()) > 0:
                got = await pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
                if got is not None:
                    _, _, reply_headers, reply_body = msgspec.msgpack.decode(got["data"])
                    return reply_body, reply_headers
            return None
        finally:
            await pubsub.aclose()

    async def close(self) -> None:
        await self.client.aclose()
