"""interlink on any broker, as its users write it: a Service with an echo endpoint and a subscription.

The server and the client are two buses (two connections), as a service and
its caller in two processes would be. ``mode`` picks what ``publish`` does:
``core`` publishes with ``durable=False`` to a live-only subscription;
``durable-publish`` publishes durably to a durable subscription;
``durable-notify`` notifies a durable endpoint.
"""

from __future__ import annotations

from typing import Any, Literal

import interlink
from bench._stats import INTERLINK
from bench._workload import DurableMode, Payload, Side, Sink

Mode = Literal["core"] | DurableMode


class InterlinkSide(Side):
    name = INTERLINK

    def __init__(self, url: str, mode: Mode = "core", prefix: str = "bench.il") -> None:
        self.url = url
        self.mode = mode
        self.tests = frozenset({"req1", "req50", "pubsub"}) if mode == "core" else frozenset({mode})
        self.echo_subject = f"{prefix}.echo"
        self.pub_subject = f"{prefix}.{mode.replace('-', '_')}.events"
        self.notify_subject = f"{prefix}.work"
        self.server: interlink.Bus | None = None
        self.client: interlink.Bus | None = None
        self.service_name = f"bench-{mode}"

    def _service(self, sink: Sink) -> interlink.Service:
        svc = interlink.Service(self.service_name)

        if self.mode == "core":
            @svc.endpoint(self.echo_subject)
            async def echo(body: dict[str, Any]) -> dict[str, Any]:
                return body

            @svc.subscribe(self.pub_subject, durable=False)
            async def on_event(body: dict[str, Any]) -> None:
                sink.hit(body)
        elif self.mode == "durable-publish":
            @svc.subscribe(self.pub_subject)
            async def on_durable(body: dict[str, Any]) -> None:
                sink.hit(body)
        else:
            @svc.endpoint(self.notify_subject)
            async def on_work(body: dict[str, Any]) -> None:
                sink.hit(body)
        return svc

    async def start(self, sink: Sink) -> None:
        self.server = await interlink.connect(self.url, name="bench-server").start()
        await self.server.serve(self._service(sink))
        self.client = await interlink.connect(self.url, name="bench-client").start()

    async def close(self) -> None:
        for bus in (self.client, self.server):
            if bus is not None:
                await bus.close(grace=2.0)

    async def request(self, body: Payload) -> Payload:
        assert self.client is not None
        reply: Payload = await self.client.request(self.echo_subject, body, timeout=5.0)
        return reply

    async def publish(self, body: Payload) -> None:
        assert self.client is not None
        if self.mode == "core":
            await self.client.publish(self.pub_subject, body, durable=False)
        elif self.mode == "durable-publish":
            await self.client.publish(self.pub_subject, body)
        else:
            await self.client.notify(self.notify_subject, body)
