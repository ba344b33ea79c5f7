"""Who is running: every served instance, its handlers and their stats, on every transport.

``await bus.services()`` asks every bus on the broker and returns one
:class:`InstanceInfo` per running service instance (``bus.local_services()``
gives this bus's own, without asking the broker)::

    for info in await bus.services(within=0.5):
        print(info.service, info.id, info.version, f"up {info.uptime:.0f}s")
        for ep in info.endpoints:
            print("  ", ep.subject, ep.num_requests, ep.num_errors, ep.average_processing_time / 1e6, "ms")

How it travels (the same on every transport, built over the transport
interface): each bus that serves something holds one live-only broadcast
subscription on the reserved subject ``_il.registry.ping``. ``services()``
publishes there (non-durable) with an inbox and collects, for ``within``
seconds, one reply per bus: a JSON list of :class:`InstanceInfo`. Nothing is
stored, so there is nothing to expire: a stopped instance simply no longer
answers. On NATS every instance also answers the NATS services API (ADR-32
``$SRV.PING|INFO|STATS``, see :mod:`interlink.transports.nats._services`), so
``nats micro ls``, nats.js's ``nc.services.client()`` and nats-py's
``nats.micro`` list interlink services too.

The data shape (JSON field names as below; times of a handler in nanoseconds,
as ADR-32 has them):

``InstanceInfo``: ``service``, ``id`` (``<service>-<8 hex>``), ``version``,
``transport`` (URL scheme), ``host``, ``pid``, ``started`` (Unix seconds),
``uptime`` (seconds, when the answer was made), ``endpoints`` and
``subscriptions`` (lists of ``HandlerInfo``).

``HandlerInfo``: ``kind`` (``"endpoint"`` or ``"subscription"``), ``subject``
(as declared; a pattern for subscriptions), ``handler`` (qualified function
name), ``queue_group`` (the service, or ``None`` for a broadcast subscription),
``durable``, ``num_requests`` (handlings finished, every outcome),
``num_errors`` (handlings that did not end ``ok``), ``last_error`` (``""`` when
none), ``processing_time`` (total ns), ``average_processing_time`` (ns),
``in_flight`` (handlings running now), ``outcomes`` (count per outcome:
``ok``, ``error``, ``retried``, ``dead_lettered``, ``invalid``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import TYPE_CHECKING

import msgspec

from interlink import _headers as h
from interlink.transports.base import Binding, Message

if TYPE_CHECKING:
    from interlink._bus import Bus, Instance
    from interlink._service import HandlerSpec

PING = "_il.registry.ping"
OUTCOMES = ("ok", "error", "retried", "dead_lettered", "invalid")
_HOST = socket.gethostname()


class HandlerInfo(msgspec.Struct, kw_only=True):
    """One endpoint or subscription of a running instance, with its stats (see the module docstring)."""

    kind: str
    subject: str
    handler: str
    queue_group: str | None
    durable: bool
    num_requests: int = 0
    num_errors: int = 0
    last_error: str = ""
    processing_time: int = 0
    average_processing_time: int = 0
    in_flight: int = 0
    outcomes: dict[str, int] = msgspec.field(default_factory=dict)


class InstanceInfo(msgspec.Struct, kw_only=True):
    """One running service instance (see the module docstring for every field)."""

    service: str
    id: str
    version: str
    transport: str
    host: str
    pid: int
    started: float
    uptime: float
    endpoints: list[HandlerInfo] = msgspec.field(default_factory=list)
    subscriptions: list[HandlerInfo] = msgspec.field(default_factory=list)


class HandlerStats:
    """Counters of one handler of one instance, updated by the dispatcher's observe seam."""

    __slots__ = ("errors", "in_flight", "last_error", "outcomes", "processing_ns", "spec", "total")

    def __init__(self, spec: HandlerSpec) -> None:
        self.spec = spec
        self.total = 0
        self.errors = 0
        self.in_flight = 0
        self.processing_ns = 0
        self.last_error = ""
        self.outcomes = dict.fromkeys(OUTCOMES, 0)

    def finished(self, outcome: str, elapsed_ns: int, error: str | None) -> None:
        self.total += 1
        self.processing_ns += elapsed_ns
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if outcome != "ok":
            self.errors += 1
            if error:
                self.last_error = error[:500]

    def info(self, service: str) -> HandlerInfo:
        spec = self.spec
        return HandlerInfo(
            kind=spec.kind, subject=spec.subject, handler=spec.name,
            queue_group=None if spec.broadcast else service, durable=spec.delivery.durable,
            num_requests=self.total, num_errors=self.errors, last_error=self.last_error,
            processing_time=self.processing_ns,
            average_processing_time=self.processing_ns // self.total if self.total else 0,
            in_flight=self.in_flight, outcomes=dict(self.outcomes),
        )


def instance_info(instance: Instance, transport: str) -> InstanceInfo:
    """A snapshot of one local instance."""
    service = instance.service.name
    handlers = [s.info(service) for s in instance.stats]
    return InstanceInfo(
        service=service, id=instance.id, version=instance.service.version, transport=transport,
        host=_HOST, pid=os.getpid(), started=instance.started, uptime=time.time() - instance.started,
        endpoints=[i for i in handlers if i.kind == "endpoint"],
        subscriptions=[i for i in handlers if i.kind == "subscription"],
    )


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(list[InstanceInfo]).decode


class Responder:
    """Answers ``_il.registry.ping`` for every instance of one bus (started with its first serve)."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._started: asyncio.Future[None] | None = None

    async def start(self) -> None:
        if self._started is None:
            binding = Binding("subscription", PING, group=None, durable=False, name=None, max_inflight=4)
            self._started = asyncio.ensure_future(self._listen(binding))
        await self._started

    async def _listen(self, binding: Binding) -> None:
        transport = self._bus.transport
        await transport.consume(binding, self._answer)
        await transport.serve_discovery(self._bus.local_services)

    async def _answer(self, message: Message) -> None:
        inbox = message.headers.get(h.INBOX)
        bus = self._bus
        infos = bus.local_services()
        if not inbox or not infos:
            return
        headers = {h.CONTENT_TYPE: "application/json", h.SENDER: bus.name,
                   h.REPLY_OF: message.headers.get(h.MESSAGE_ID, "")}
        await bus.transport.reply(inbox, Message(message.subject, _encode(infos), headers))


async def collect(bus: Bus, within: float, service: str | None = None) -> list[InstanceInfo]:
    """Ask every bus on the broker; each answers once with its instances (``service``: only that one)."""
    inbox = await bus._open_inbox()
    key = h.new_id()
    queue: asyncio.Queue[Message] = asyncio.Queue()
    bus._gathers[key] = queue
    found: dict[str, InstanceInfo] = {}
    try:
        await bus.transport.publish(Message(PING, b"", {h.MESSAGE_ID: key, h.INBOX: inbox, h.SENDER: bus.name}),
                                    durable=False)
        loop = asyncio.get_running_loop()
        end = loop.time() + within
        while (left := end - loop.time()) > 0:
            try:
                reply = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                break
            try:
                infos = _decode(reply.body)
            except msgspec.DecodeError:
                continue  # not an interlink registry answer: ignored
            for info in infos:
                found[info.id] = info
    finally:
        del bus._gathers[key]
    return sorted((i for i in found.values() if service is None or i.service == service),
                  key=lambda i: (i.service, i.id))
