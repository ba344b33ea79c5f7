"""The per-message Context a handler receives, and the Reply of gather/scatter.

Calls made through ``ctx`` carry the incoming message's correlation id, trace
and deadline forward, and name the handler's service as the sender.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interlink import _headers as h

if TYPE_CHECKING:
    from datetime import datetime

    from interlink._bus import Bus
    from interlink._resilience import Policy


@dataclass(slots=True)
class Reply:
    """One answer collected by ``gather``/``scatter``."""

    body: Any
    service: str
    instance: str
    headers: dict[str, str] = field(default_factory=dict)


class Context:
    """What a handler knows about the message it handles, and how it calls others."""

    __slots__ = ("_bus", "attempt", "headers", "instance", "service", "subject")

    def __init__(self, bus: Bus, service: str, instance: str, subject: str,
                 headers: dict[str, str], attempt: int = 1) -> None:
        self._bus = bus
        self.service = service
        self.instance = instance
        self.subject = subject
        self.headers = headers
        self.attempt = attempt

    def __repr__(self) -> str:
        return f"<Context {self.service} {self.subject} id={self.message_id} attempt={self.attempt}>"

    @property
    def message_id(self) -> str:
        return self.headers.get(h.MESSAGE_ID, "")

    @property
    def correlation_id(self) -> str:
        return self.headers.get(h.CORRELATION_ID, "")

    @property
    def sender(self) -> str:
        return self.headers.get(h.SENDER, "")

    @property
    def traceparent(self) -> str | None:
        return self.headers.get(h.TRACEPARENT)

    @property
    def deadline(self) -> float | None:
        """Seconds left before the caller stops waiting, or None."""
        return h.seconds_left(self.headers)

    async def request(self, subject: str, body: Any = None, timeout: float = 5.0, *,
                      reply_type: Any = Any, headers: dict[str, str] | None = None,
                      policy: Policy | None = None) -> Any:
        """Request/response: wait for the reply (at most the time left of this message's deadline).

        ``policy`` overrides the bus's policy for the target for this call (retries, breaker, fallback).
        """
        return await self._bus.request(subject, body, timeout, reply_type=reply_type, headers=headers, parent=self,
                                       policy=policy)

    async def notify(self, subject: str, body: Any = None, *, headers: dict[str, str] | None = None,
                     delay: float | None = None, at: datetime | None = None) -> str:
        """Notification: one-to-one, no reply. Returns the message id. ``delay``/``at``: delivered later."""
        return await self._bus.notify(subject, body, headers=headers, parent=self, delay=delay, at=at)

    async def send(self, subject: str, body: Any = None, *, reply_to: str,
                   headers: dict[str, str] | None = None, delay: float | None = None,
                   at: datetime | None = None) -> str:
        """Request/async response: returns the correlation id at once; the reply goes to ``reply_to``."""
        return await self._bus.send(subject, body, reply_to=reply_to, headers=headers, parent=self, delay=delay,
                                    at=at)

    async def publish(self, subject: str, body: Any = None, *, headers: dict[str, str] | None = None,
                      durable: bool = True, delay: float | None = None, at: datetime | None = None) -> str:
        """Publish/subscribe: one copy per subscribing service. Returns the message id."""
        return await self._bus.publish(subject, body, headers=headers, durable=durable, parent=self,
                                       delay=delay, at=at)

    async def gather(self, subject: str, body: Any = None, within: float = 1.0,
                     max_replies: int | None = None, *, reply_type: Any = Any,
                     headers: dict[str, str] | None = None) -> list[Reply]:
        """Publish/async responses: the replies that arrive within ``within`` seconds."""
        return await self._bus.gather(subject, body, within, max_replies, reply_type=reply_type,
                                      headers=headers, parent=self)

    def scatter(self, subject: str, body: Any = None, within: float = 1.0,
                max_replies: int | None = None, *, reply_type: Any = Any,
                headers: dict[str, str] | None = None) -> AsyncIterator[Reply]:
        """Like gather, yielding each reply as it arrives."""
        return self._bus.scatter(subject, body, within, max_replies, reply_type=reply_type,
                                 headers=headers, parent=self)
