"""A consume() call on NATS: core subscriptions and a JetStream pull member feeding one worker pool."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from nats.aio.subscription import Subscription as NatsSubscription
from nats.js.api import ConsumerConfig

from interlink._errors import BrokerError, InterlinkError
from interlink.transports.base import Message
from interlink.transports.nats._client import parse_headers
from interlink.transports.nats._frame import MAGIC, unframe
from interlink.transports.nats._jetstream import PullConsumer
from interlink.transports.nats._support import MSG_ID, Pool, broker_errors, drain

if TYPE_CHECKING:
    from interlink.transports.nats._transport import NatsTransport


#: Marks the reply address of a framed request; a space is never part of a NATS subject.
FRAMED = "framed "
MAGIC_BYTE = bytes((MAGIC,))


class Consumer:
    """One consume() call: core subscriptions and a JetStream member feeding one pool."""

    def __init__(self, transport: NatsTransport, pool: Pool) -> None:
        self._transport = transport
        self._client = transport.client
        self._pool = pool
        self._subs: list[NatsSubscription] = []
        self._member: PullConsumer | None = None
        self._stopped = False
        transport._consumers.add(self)

    async def listen(self, subject: str, group: str | None, strip: int, *, requests: bool = False) -> None:
        """A core subscription. Only requests are answered to the NATS reply subject: a message stored
        through JetStream and heard live carries the sender's acknowledgement inbox there, which
        must never get a handler's reply (the sender would take it for the stream's answer)."""
        pool = self._pool
        transport = self._transport

        def deliver(raw_subject: bytes, reply: bytes, data: bytes, raw_headers: bytes | None) -> None:
            headers, body, defect = unframe(data, parse_headers(raw_headers) if raw_headers is not None else None)
            if MSG_ID in headers:  # a durable publish heard live: the stream's id is not ours to show
                del headers[MSG_ID]
            address = None
            if requests and reply:  # a framed request is answered framed (see NatsTransport.reply)
                address = reply.decode(errors="replace")
                if defect is None and data[:1] == MAGIC_BYTE:
                    address = FRAMED + address
            message = Message(raw_subject.decode(errors="replace")[strip:], body, headers, address, defect=defect)
            if not pool.put_nowait(message):
                transport.report(BrokerError(f"slow consumer, a message on {subject} dropped "
                                             f"({pool.limit} waiting to be handled)"))

        with broker_errors(self._transport.url, f"subscribe to {subject}"):
            self._subs.append(await self._client.subscribe_direct(subject, deliver, group or ""))

    async def pull(self, stream: str, config: ConsumerConfig, strip: int, *, settle: bool) -> None:
        self._member = PullConsumer(self._transport._jetstream, stream, config, self._pool, strip=strip,
                                    settle=settle)
        await self._member.start()

    def resume(self) -> None:
        if self._member is not None:
            self._member.resume()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        stops = [drain(self._client, sub) for sub in self._subs]
        if self._member is not None:
            stops.append(self._member.stop())
        await asyncio.gather(*stops)
        for message in await self._pool.close():
            if message.receipt is not None:  # never started: back to the broker for another member
                with contextlib.suppress(InterlinkError):
                    await message.receipt.nack(0)
        self._transport._consumers.discard(self)

    def abort(self) -> None:
        """Cancel handlers still running (their unsettled messages are redelivered)."""
        if self._member is not None:
            self._member.abort()
        self._pool.cancel()
        self._transport._consumers.discard(self)
