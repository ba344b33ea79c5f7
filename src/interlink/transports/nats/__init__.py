"""``nats://``: interlink on NATS; core NATS for requests, JetStream for durable channels.

The layout of subjects and streams is described in :mod:`interlink.transports.nats._transport`.
"""

from interlink.transports.nats._transport import NatsTransport

__all__ = ["NatsTransport"]
