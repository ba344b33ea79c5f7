"""Raw aio-pika, written the way RabbitMQ's RPC and topic tutorials show, with msgspec for the JSON.

Requests: the client publishes to the default exchange with
``reply_to=amq.rabbitmq.reply-to`` (direct reply-to) and a correlation id,
and matches replies to futures; the server consumes a queue with prefetch 64,
replies through the default exchange (``mandatory=False``, see rabbitmq-server
issue 6124) and acks. Pub/sub: a topic exchange, a queue bound to the subject,
transient messages, consumed with prefetch 64 and acked after handling.
Channels run without publisher confirms: the reply confirms a request, and
live-only events are not confirmed by any side.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aio_pika
import msgspec
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractIncomingMessage

from bench._stats import RAW
from bench._workload import Payload, Side, Sink

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode
REPLY_TO = "amq.rabbitmq.reply-to"


class RabbitRaw(Side):
    name = RAW

    def __init__(self, url: str) -> None:
        self.url = url
        self.connections: list[AbstractConnection] = []
        self.channel: AbstractChannel | None = None
        self.topic: AbstractExchange | None = None
        self.pending: dict[str, asyncio.Future[bytes]] = {}
        self.ids = itertools.count(1)

    async def start(self, sink: Sink) -> None:
        server = await aio_pika.connect(self.url)
        self.connections.append(server)
        sch = await server.channel(publisher_confirms=False)
        await sch.set_qos(prefetch_count=64)
        requests = await sch.declare_queue("bench.raw.echo", auto_delete=True)
        topic = await sch.declare_exchange("bench.raw.topic", aio_pika.ExchangeType.TOPIC, auto_delete=True)
        events = await sch.declare_queue("bench.raw.events", auto_delete=True)
        await events.bind(topic, "bench.raw.events")

        async def on_request(msg: AbstractIncomingMessage) -> None:
            reply = aio_pika.Message(_encode(_decode(msg.body)), correlation_id=msg.correlation_id,
                                     content_type="application/json")
            await sch.default_exchange.publish(reply, routing_key=msg.reply_to or "", mandatory=False)
            await msg.ack()

        async def on_event(msg: AbstractIncomingMessage) -> None:
            sink.hit(_decode(msg.body))
            await msg.ack()

        await requests.consume(on_request)
        await events.consume(on_event)

        client = await aio_pika.connect(self.url)
        self.connections.append(client)
        self.channel = await client.channel(publisher_confirms=False)
        self.topic = await self.channel.get_exchange("bench.raw.topic")
        replies = await self.channel.get_queue(REPLY_TO, ensure=False)
        await replies.consume(self._on_reply, no_ack=True)

    async def _on_reply(self, msg: AbstractIncomingMessage) -> None:
        future = self.pending.pop(msg.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(msg.body)

    async def close(self) -> None:
        for conn in reversed(self.connections):
            await conn.close()

    async def request(self, body: Payload) -> Payload:
        if self.channel is None:
            raise RuntimeError("not started")
        cid = str(next(self.ids))
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[cid] = future
        message = aio_pika.Message(_encode(body), correlation_id=cid, reply_to=REPLY_TO,
                                   content_type="application/json")
        try:
            await self.channel.default_exchange.publish(message, routing_key="bench.raw.echo")
            return _decode(await asyncio.wait_for(future, 5.0))
        finally:
            self.pending.pop(cid, None)

    async def publish(self, body: Payload) -> None:
        if self.topic is None:
            raise RuntimeError("not started")
        await self.topic.publish(aio_pika.Message(_encode(body), content_type="application/json"),
                                 routing_key="bench.raw.events")
