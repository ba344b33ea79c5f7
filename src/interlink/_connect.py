"""``interlink.connect(url)``: pick the transport by the URL's scheme.

``memory://NAME``, ``nats://``, ``amqp://`` (RabbitMQ), ``redis://``. With no
URL: the ``INTERLINK_BROKER`` environment variable, else the embedded broker (a
real nats-server started on a free loopback port, stopped with its last user).
"""

from __future__ import annotations

import os
import ssl
from urllib.parse import urlsplit

from interlink._bus import Bus
from interlink.transports.base import Transport


def transport_for(url: str, *, tls: ssl.SSLContext | None = None) -> Transport:
    """The transport for ``url``; ``tls`` is handed to it for its broker connection."""
    if tls is not None and not isinstance(tls, ssl.SSLContext):
        raise ValueError(f"tls= must be an ssl.SSLContext, not {type(tls).__name__}")
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        if tls is not None:
            raise ValueError("tls= has no meaning for memory:// (no network connection)")
        from interlink.transports.memory import MemoryTransport

        return MemoryTransport(url.split("://", 1)[1].strip("/") or "default")
    if scheme in ("nats", "tls", "ws", "wss"):
        from interlink.transports.nats import NatsTransport

        return NatsTransport(url, tls=tls)
    if scheme in ("amqp", "amqps"):
        from interlink.transports.rabbitmq import RabbitTransport

        return RabbitTransport(url, tls=tls)
    if scheme in ("redis", "rediss", "unix"):
        from interlink.transports.redis import RedisTransport

        return RedisTransport(url, tls=tls)
    raise ValueError(f"unknown broker URL scheme {scheme!r} in {url!r}: use memory://, nats://, amqp:// or redis://")


def connect(url: str | None = None, *, tls: ssl.SSLContext | None = None, format: str = "json",
            name: str = "client") -> Bus:
    """A Bus for ``url``; use it as ``async with interlink.connect(url) as bus:``.

    ``tls`` is the TLS context of the broker connection (CA, client certificate
    and key, verification), for when URL options are not enough; a URL scheme
    that implies TLS (``tls://``, ``amqps://``, ``rediss://``) without it uses the
    system's default context or the URL's TLS options. ``format`` is "json"
    (default) or "msgpack"; ``name`` is the sender name of messages sent from
    the bus itself (not from a handler).
    """
    url = url or os.environ.get("INTERLINK_BROKER") or None
    if url is None:
        if tls is not None:
            raise ValueError("tls= needs a broker URL: the embedded broker listens on loopback without TLS")
        from interlink._embedded import embedded_bus

        return embedded_bus(format=format, name=name)
    return Bus(transport_for(url, tls=tls), format=format, name=name)
