"""Durable messaging on RabbitMQ: raw aio-pika and FastStream, both as their documentation shows.

``durable-publish`` goes through a durable topic exchange into a durable queue
bound to the subject; ``durable-notify`` goes through the default exchange
straight into a durable queue. Messages are persistent and every publish waits
for its publisher confirm; the consumer takes 64 at a time and acks each one
after handling it. Queues and exchanges are deleted on close.
"""

from __future__ import annotations

from typing import Any

import aio_pika
import msgspec
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue

from bench._faststream import FastStreamSide
from bench._stats import RAW
from bench._workload import DurableMode, Payload, Side, Sink

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode



def _names(prefix: str, mode: DurableMode) -> tuple[str, str]:
    """(queue, exchange) for one side and mode; the exchange is only used by durable-publish."""
    return f"{prefix}.{mode.replace('-', '_')}", f"{prefix}.durable.topic"


class RabbitDurableRaw(Side):
    name = RAW

    def __init__(self, url: str, mode: DurableMode) -> None:
        self.url = url
        self.mode = mode
        self.tests = frozenset({mode})
        self.queue, self.exchange_name = _names("bench.raw", mode)
        self.connections: list[AbstractConnection] = []
        self.exchange: AbstractExchange | None = None
        self.channel: AbstractChannel | None = None

    async def start(self, sink: Sink) -> None:
        server = await aio_pika.connect(self.url)
        self.connections.append(server)
        channel = await server.channel()
        await channel.set_qos(prefetch_count=64)
        queue = await channel.declare_queue(self.queue, durable=True)
        await queue.purge()
        if self.mode == "durable-publish":
            topic = await channel.declare_exchange(self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
            await queue.bind(topic, self.queue)

        async def on_message(msg: aio_pika.abc.AbstractIncomingMessage) -> None:
            sink.hit(_decode(msg.body))
            await msg.ack()

        await queue.consume(on_message)
        client = await aio_pika.connect(self.url)
        self.connections.append(client)
        self.channel = await client.channel()  # publisher confirms on: each publish awaits its confirm
        self.exchange = (await self.channel.get_exchange(self.exchange_name) if self.mode == "durable-publish"
                         else self.channel.default_exchange)

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.queue_delete(self.queue)
            if self.mode == "durable-publish":
                await self.channel.exchange_delete(self.exchange_name)
        for conn in reversed(self.connections):
            await conn.close()

    async def publish(self, body: Payload) -> None:
        if self.exchange is None:
            raise RuntimeError("not started")
        message = aio_pika.Message(_encode(body), content_type="application/json",
                                   delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await self.exchange.publish(message, routing_key=self.queue)


class RabbitDurableFastStream(FastStreamSide):
    """A durable queue subscriber (bound to a durable topic exchange for durable-publish); ``persist=True``."""

    server: RabbitBroker
    client: RabbitBroker

    def __init__(self, url: str, mode: DurableMode) -> None:
        self.url = url
        self.tests = frozenset({mode})
        queue, exchange = _names("bench.fs", mode)
        self.queue = RabbitQueue(queue, durable=True, routing_key=queue)
        self.exchange = (RabbitExchange(exchange, type=ExchangeType.TOPIC, durable=True)
                         if mode == "durable-publish" else None)
        self.server = RabbitBroker(url, logger=None)
        self.client = RabbitBroker(url, logger=None)

    def subscribe(self, sink: Sink) -> None:
        @self.server.subscriber(self.queue, self.exchange)
        async def on_event(body: dict[str, Any]) -> None:
            sink.hit(body)

    async def cleanup(self) -> None:
        conn = await aio_pika.connect(self.url)
        async with conn:
            channel = await conn.channel()
            await channel.queue_delete(self.queue.name)
            if self.exchange is not None:
                await channel.exchange_delete(self.exchange.name)

    async def publish(self, body: Payload) -> None:
        if self.exchange is None:
            await self.client.publish(body, self.queue, persist=True)
        else:
            await self.client.publish(body, exchange=self.exchange, routing_key=self.queue.name, persist=True)
