"""FastStream's RabbitBroker, run as its documentation shows (default channel settings).

The server is one RabbitBroker with a queue subscriber that returns the body,
and a subscriber on a topic exchange that counts events; the client is a
second RabbitBroker calling ``broker.request(...)`` (direct reply-to, which
FastStream serialises behind one lock per broker) and ``broker.publish(...)``
(publisher confirms on, FastStream's default). Per-message access logging is
off (``logger=None``).
"""

from __future__ import annotations

from typing import Any

from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue

from bench._faststream import FastStreamSide
from bench._workload import Payload, Sink

TOPIC = RabbitExchange("bench.fs.topic", type=ExchangeType.TOPIC, auto_delete=True)


class RabbitFastStream(FastStreamSide):
    server: RabbitBroker
    client: RabbitBroker

    def __init__(self, url: str) -> None:
        self.server = RabbitBroker(url, logger=None)
        self.client = RabbitBroker(url, logger=None)

    def subscribe(self, sink: Sink) -> None:
        @self.server.subscriber(RabbitQueue("bench.fs.echo", auto_delete=True))
        async def echo(body: dict[str, Any]) -> dict[str, Any]:
            return body

        @self.server.subscriber(RabbitQueue("bench.fs.events", auto_delete=True, routing_key="bench.fs.events"),
                                TOPIC)
        async def on_event(body: dict[str, Any]) -> None:
            sink.hit(body)

    async def request(self, body: Payload) -> Payload:
        return await self.call("bench.fs.echo", body)

    async def publish(self, body: Payload) -> None:
        await self.client.publish(body, "bench.fs.events", exchange=TOPIC)
