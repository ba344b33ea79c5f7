"""The transport interface: the one seam between interlink and a broker.

A transport moves :class:`Message` objects (bytes, a subject, string headers)
and knows four delivery kinds, nothing about services, types or styles:

``request``   one-to-one, synchronous, at-most-once. Goes to one member of the
              endpoint group serving the subject; raises NoResponders at once
              when there is none, RequestTimeout after ``timeout``.
``send``      one-to-one, asynchronous. Goes to one member of the endpoint group
              serving the subject. On a durable transport it is stored until a
              member acknowledges it, even while no member is running.
``publish``   one-to-many. One copy per subscription group (balanced among its
              members), one per member of a broadcast binding (``group=None``).
              With ``durable=True`` it is stored for durable groups.
``reply``     to an address from ``Message.reply_to`` or from :meth:`inbox`.
``schedule``  a ``send`` or durable ``publish`` stored now and carried out at a due
              time (delayed messages), at least once, across restarts of the
              broker and of every service.

With ``durable=False`` (and for every delivery of a non-durable binding) a
message reaches only bindings with a running member and is never stored;
durable bindings with running members receive non-durable publishes too.
Dead letters are kept by the transport (:meth:`dead_letter`) so that operators
can list, replay and purge them.

Everything above (the five styles, codecs, retries, dead letters) is built once
on top of this, in ``interlink._bus``.

Example (the memory transport is a complete implementation)::

    transport = MemoryTransport("demo")
    await transport.start()
    await transport.consume(Binding("endpoint", "echo", group="svc"), on_message)
    reply = await transport.request(Message("echo", b"hi"), timeout=1.0)
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from interlink._registry import InstanceInfo


class Receipt(Protocol):
    """How a consumer settles a delivered message. Non-durable deliveries get no-ops."""

    async def ack(self) -> None:
        """Done: never deliver this message again."""

    async def nack(self, delay: float) -> None:
        """Failed: deliver it again after ``delay`` seconds (attempt + 1)."""

    async def reject(self) -> None:
        """Give up: drop it without redelivery (the caller dead-lettered it)."""

    async def working(self) -> None:
        """Still being handled: postpone redelivery (extends the ack deadline)."""


@dataclass(slots=True)
class Message:
    """One message as it crosses the transport.

    ``reply_to`` is set on a delivered *request* only: the transport's own reply
    address, answered with :meth:`Transport.reply`. ``attempt`` counts
    deliveries (1 on the first). ``receipt`` is set on deliveries of durable
    bindings; the consumer must settle it. ``defect`` is set by a transport on
    a delivery it could not read (a frame that does not decode, say): ``body``
    then holds the raw bytes and the consumer dead-letters it with that reason.
    """

    subject: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reply_to: str | None = None
    attempt: int = 1
    receipt: Receipt | None = None
    defect: str | None = None


Kind = Literal["endpoint", "subscription"]


@dataclass(frozen=True, slots=True)
class Binding:
    """What a consumer wants to receive.

    kind="endpoint": requests and sends to the exact subject ``pattern``.
    kind="subscription": publishes matching ``pattern`` (``*`` and ``>``).
    ``group``: members of one group compete (queue group); None = every member gets a copy.
    ``durable``: at-least-once (stored, acked through the Receipt) when the transport can;
    a durable endpoint binding receives requests too (those are never stored).
    ``name``: a stable name for durable state (the service name); required when durable.
    ``max_inflight``: deliveries handed out and not yet settled (prefetch).
    ``ack_wait``: seconds before an unsettled delivery is redelivered.
    """

    kind: Kind
    pattern: str
    group: str | None = None
    durable: bool = False
    name: str | None = None
    max_inflight: int = 64
    ack_wait: float = 30.0


Handler = Callable[[Message], Awaitable[None]]

#: What a tap sees: ``"request"``, ``"send"``, ``"publish"``, ``"reply"`` (an answer to a request or a
#: gather, on its private address) or ``"dead"`` (a message being dead-lettered), and the message.
TapKind = Literal["request", "send", "publish", "reply", "dead"]
TapHandler = Callable[[TapKind, Message], None]


@dataclass(frozen=True, slots=True)
class Backlog:
    """Messages waiting for one durable consumer: ``pending`` not yet delivered,
    ``in_flight`` delivered and not yet settled. ``kind`` and ``subject`` are those of
    the binding (an endpoint's subject, a subscription's pattern); ``service`` its name."""

    service: str
    kind: Kind
    subject: str
    pending: int
    in_flight: int


class Subscription(Protocol):
    async def stop(self) -> None:
        """Stop receiving; deliveries in flight are not cancelled, unsettled ones return to the broker."""


class Transport(abc.ABC):
    """A broker connection. Subclasses live in one module each and import their client lazily."""

    #: Whether send/publish(durable=True) survive a consumer being down.
    durable: bool = False
    #: The largest body the broker accepts, in bytes (checked before sending).
    max_payload: int = 1024 * 1024
    #: The longest delay :meth:`schedule` accepts, in seconds (checked before scheduling).
    max_delay: float = 7 * 86_400.0

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect. Raises BrokerError naming the broker and the cause, within a few seconds."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop every consumer and disconnect. Idempotent."""

    @abc.abstractmethod
    async def request(self, message: Message, timeout: float) -> Message:
        """Deliver to one endpoint member and wait for its reply."""

    @abc.abstractmethod
    async def send(self, message: Message) -> None:
        """Deliver to one endpoint member, asynchronously (stored when durable)."""

    @abc.abstractmethod
    async def publish(self, message: Message, *, durable: bool = True) -> None:
        """Deliver one copy to each subscription group and broadcast member."""

    @abc.abstractmethod
    async def reply(self, address: str, message: Message) -> None:
        """Answer a request (``Message.reply_to``) or write to an :meth:`inbox` address."""

    @abc.abstractmethod
    async def inbox(self, handler: Handler) -> str:
        """Open a private address of this connection; replies sent to it reach ``handler``."""

    @abc.abstractmethod
    async def schedule(self, message: Message, due: float, *, publish: bool) -> None:
        """Store ``message`` now; at ``due`` (Unix seconds) ``send`` it (``publish`` False) or
        ``publish`` it durably. Returns once the broker holds it. Delivered at least once and
        within a second of ``due`` while the broker runs; a message whose due time passed while
        the broker was down is delivered as soon as it is back. ``due - now`` is at most ``max_delay``.
        """

    @abc.abstractmethod
    async def dead_letter(self, message: Message) -> None:
        """Keep ``message`` in the dead-letter channel until it is removed (headers say why)."""

    @abc.abstractmethod
    async def dead_letters(self, limit: int = 1000) -> list[Message]:
        """The dead letters kept, oldest first (without removing them)."""

    @abc.abstractmethod
    async def remove_dead_letters(self, message_ids: set[str] | None = None) -> int:
        """Remove the dead letters whose ``il-id`` header is in ``message_ids`` (all when None)."""

    @abc.abstractmethod
    async def consume(self, binding: Binding, handler: Handler) -> Subscription:
        """Start delivering messages for ``binding`` to ``handler``.

        Returns once the binding is live: a message sent after this returns is
        delivered. The handler is awaited per message; the transport may run up
        to ``binding.max_inflight`` handlers concurrently.
        """

    async def serve_discovery(self, snapshot: Callable[[], Sequence[InstanceInfo]]) -> None:
        """Answer the broker's own service-discovery protocol, if it has one, for the instances
        ``snapshot()`` returns at each question (NATS: the ADR-32 services API). Default: none."""
        return None

    async def tap(self, handler: TapHandler) -> Subscription:
        """Hand a copy of every message crossing the broker to ``handler``, without taking part.

        For observers (the dashboard): the tap never acknowledges, competes or
        answers, and ``handler`` must return at once (it is called on the
        transport's own path). Transports that cannot see everything show what they
        can: this default hears every publish, as a broadcast subscription to ``>``.
        """

        async def heard(message: Message) -> None:
            handler("publish", message)

        return await self.consume(Binding("subscription", ">"), heard)

    async def backlog(self) -> list[Backlog]:
        """What waits for each durable consumer, for operators; empty where the broker cannot tell."""
        return []

    async def __aenter__(self) -> Transport:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
