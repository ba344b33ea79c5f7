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

from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitMessage, RabbitQueue

from bench._stats import FASTSTREAM
from bench._workload import Payload, Side, Sink

TOPIC = RabbitExchange("bench.fs.topic", type=ExchangeType.TOPIC, auto_delete=True)


class RabbitFastStream(Side):
    name = FASTSTREAM

    def __init__(self, url: str) -> None:
        self.server = RabbitBroker(url, logger=None)
        self.client = RabbitBroker(url, logger=None)

    async def start(self, sink: Sink) -> None:
        @self.server.subscriber(RabbitQueue("bench.fs.echo", auto_delete=True))
        async def echo(body: dict[str, Any]) -> dict[str, Any]:
            return body

        @self.server.subscriber(RabbitQueue("bench.fs.events", auto_delete=True, routing_key="bench.fs.events"),
                                TOPIC)
        async def on_event(body: dict[str, Any]) -> None:
            sink.hit(body)

        await self.server.start()
        await self.client.start()

    async def close(self) -> None:
        await self.client.stop()
        await self.server.stop()

    async def request(self, body: Payload) -> Payload:
        msg: RabbitMessage = await self.client.request(body, "bench.fs.echo", timeout=5.0)
        reply: Payload = await msg.decode()  # type: ignore[assignment]
        return reply

    async def publish(self, body: Payload) -> None:
        await self.client.publish(body, "bench.fs.events", exchange=TOPIC)
