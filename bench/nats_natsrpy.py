"""Raw natsrpy (a Rust-backed NATS client: async-nats under PyO3), with msgspec for the JSON.

The same work as the nats-py raw side: a queue-group callback subscription
answers each request by publishing to its reply subject, the client calls
``nc.request``; pub/sub is ``nc.publish`` into a callback subscription.
Only the core rows: the durable rows stay with nats-py.
"""

from __future__ import annotations

from typing import Any

import msgspec
from natsrpy import CallbackSubscription, Message, Nats

from bench._workload import Payload, Side, Sink

NAME = "raw natsrpy"
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode


class NatsRpyRaw(Side):
    name = NAME

    def __init__(self, url: str) -> None:
        self.url = url
        self.server: Nats | None = None
        self.client: Nats | None = None
        self.subscriptions: list[CallbackSubscription] = []

    async def start(self, sink: Sink) -> None:
        self.server = server = Nats(addrs=[self.url])
        await server.startup()

        async def echo(msg: Message) -> None:
            if msg.reply is not None:
                await server.publish(msg.reply, _encode(_decode(msg.payload)))

        async def on_event(msg: Message) -> None:
            sink.hit(_decode(msg.payload))

        self.subscriptions = [await server.subscribe("bench.rpy.echo", echo, queue="bench").detatch(),
                              await server.subscribe("bench.rpy.events", on_event).detatch()]
        await server.flush()
        self.client = Nats(addrs=[self.url])
        await self.client.startup()

    async def close(self) -> None:
        for sub in self.subscriptions:
            await sub.unsubscribe()
        for nc in (self.client, self.server):
            if nc is not None:
                await nc.shutdown()

    async def request(self, body: Payload) -> Payload:
        if self.client is None:
            raise RuntimeError("not started")
        msg = await self.client.request("bench.rpy.echo", _encode(body), timeout=5.0)
        result: Payload = _decode(msg.payload)
        return result

    async def publish(self, body: Payload) -> None:
        if self.client is None:
            raise RuntimeError("not started")
        await self.client.publish("bench.rpy.events", _encode(body))

    async def flush(self) -> None:
        if self.client is not None:
            await self.client.flush()
