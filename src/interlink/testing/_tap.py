"""The recording seam of the test harness: a bus's transport, watched at its interface.

Every bus hands each message to its transport (``request``, ``send``, ``publish``,
``reply``, ``dead_letter``) and receives through the handler it gave ``consume``;
the tap shadows those methods on the one transport object for the life of a
harness, so production code pays nothing and the recording sees exactly what the
broker sees, whichever hooks wrap the transport above. Closing the tap restores
the transport's own methods.

With a ``prefix`` the tap also isolates names on a shared broker: subjects and
service groups get ``PREFIX.`` / ``PREFIX-`` on the way to the broker and lose it
on the way back, so handlers, headers and dead-letter records see the names
declared in the code. Reserved subjects (``$…``, ``_…``) are left alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from interlink import _headers as h
from interlink.transports.base import Binding, Handler, Message, Receipt, Subscription, Transport

if TYPE_CHECKING:
    from interlink.testing._harness import Harness

Outcome = Literal["ok", "error", "retried", "dead_lettered", "dropped"]
_PATCHED = ("request", "send", "publish", "reply", "dead_letter", "consume")


class _Receipt:
    """The broker's receipt, remembering how the handling settled it."""

    __slots__ = ("inner", "nacked")

    def __init__(self, inner: Receipt) -> None:
        self.inner = inner
        self.nacked = False

    async def ack(self) -> None:
        await self.inner.ack()

    async def nack(self, delay: float) -> None:
        self.nacked = True
        await self.inner.nack(delay)

    async def reject(self) -> None:
        await self.inner.reject()

    async def working(self) -> None:
        await self.inner.working()


class Tap:
    """Shadows one transport's methods, reporting to the harness."""

    def __init__(self, transport: Transport, harness: Harness, prefix: str | None) -> None:
        self.transport = transport
        self.harness = harness
        self.prefix = prefix
        self._own: dict[str, Callable[..., Any]] = {name: getattr(transport, name) for name in _PATCHED}
        for name in _PATCHED:
            setattr(transport, name, getattr(self, name))

    def close(self) -> None:
        for name in _PATCHED:
            if name in vars(self.transport):
                delattr(self.transport, name)

    # -- names -------------------------------------------------------------

    def out(self, subject: str) -> str:
        if self.prefix is None or subject[:1] in ("$", "_") or subject.startswith(self.prefix + "."):
            return subject
        return f"{self.prefix}.{subject}"

    def back(self, subject: str) -> str:
        if self.prefix is not None and subject.startswith(self.prefix + "."):
            return subject[len(self.prefix) + 1:]
        return subject

    def _outgoing(self, message: Message) -> Message:
        if self.prefix is None:
            return message
        return dataclasses.replace(message, subject=self.out(message.subject))

    # -- outgoing ------------------------------------------------------------

    async def request(self, message: Message, timeout: float) -> Message:
        self.harness.record_out("request", message, self)
        return await self._own["request"](self._outgoing(message), timeout)  # type: ignore[no-any-return]

    async def send(self, message: Message) -> None:
        self.harness.record_out("send", message, self)
        await self._own["send"](self._outgoing(message))

    async def publish(self, message: Message, *, durable: bool = True) -> None:
        self.harness.record_out("publish", message, self, durable=durable)
        await self._own["publish"](self._outgoing(message), durable=durable)

    async def reply(self, address: str, message: Message) -> None:
        self.harness.record_out("reply", message, self)
        await self._own["reply"](address, message)

    async def dead_letter(self, message: Message) -> None:
        self.harness.record_dead(message)
        await self._own["dead_letter"](message)

    # -- incoming ------------------------------------------------------------

    async def consume(self, binding: Binding, handler: Handler) -> Subscription:
        key = self.harness.record_binding(binding, self)
        if self.prefix is not None:
            group = f"{self.prefix}-{binding.group}" if binding.group else None
            name = f"{self.prefix}-{binding.name}" if binding.name else None
            binding = dataclasses.replace(binding, pattern=self.out(binding.pattern), group=group, name=name)

        async def watched(message: Message) -> None:
            message.subject = self.back(message.subject)
            receipt = _Receipt(message.receipt) if message.receipt is not None else None
            message.receipt = receipt
            handling = self.harness.started(key, message)
            try:
                await handler(message)
            finally:
                self.harness.finished(handling, receipt is not None and receipt.nacked)

        subscription: Subscription = await self._own["consume"](binding, watched)
        return _Stopping(subscription, lambda: self.harness.binding_stopped(key))


class _Stopping:
    """A subscription that tells the harness when it stops (a live-only binding expects nothing more)."""

    def __init__(self, inner: Subscription, on_stop: Callable[[], None]) -> None:
        self._inner = inner
        self._on_stop = on_stop

    async def stop(self) -> None:
        self._on_stop()
        await self._inner.stop()


def error_of(message: Message) -> bool:
    return h.ERROR in message.headers
