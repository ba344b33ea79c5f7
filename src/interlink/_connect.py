"""``interlink.connect(url)``: pick the transport by the URL's scheme.

``memory://NAME``, ``nats://``, ``amqp://`` (RabbitMQ), ``redis://``. With no
URL: the ``INTERLINK_BROKER`` environment variable, else the embedded broker (a
real nats-server started on a free loopback port, stopped with its last user).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from interlink._bus import Bus
from interlink.transports.base import Transport


def transport_for(url: str) -> Transport:
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        from interlink.transports.memory import MemoryTransport

        return MemoryTransport(url.split("://", 1)[1].strip("/") or "default")
    if scheme in ("nats", "tls", "ws", "wss"):
        from interlink.transports.nats import NatsTransport

        return NatsTransport(url)
    if scheme in ("amqp", "amqps"):
        from interlink.transports.rabbitmq import RabbitTransport

        return RabbitTransport(url)
    if scheme in ("redis", "rediss", "unix"):
        from interlink.transports.redis import RedisTransport

        return RedisTransport(url)
    raise ValueError(f"unknown broker URL scheme {scheme!r} in {url!r}: use memory://, nats://, amqp:// or redis://")


def connect(url: str | None = None, *, format: str = "json", name: str = "client") -> Bus:
    """A Bus for ``url``; use it as ``async with interlink.connect(url) as bus:``.

    ``format`` is "json" (default) or "msgpack"; ``name`` is the sender name of
    messages sent from the bus itself (not from a handler).
    """
    url = url or os.environ.get("INTERLINK_BROKER") or None
    if url is None:
        from interlink._embedded import embedded_bus

        return embedded_bus(format=format, name=name)
    return Bus(transport_for(url), format=format, name=name)
