"""Delayed messages on RabbitMQ: hops through the delay tiers, and a mover.

RabbitMQ has no per-message delay of its own (the delayed-message exchange is a
plugin, not installed by default, and keeps its messages on one node only), so a
delayed message waits in the delay-tier queues that retries use already
(``{p}.delay.{ms}``: a fixed TTL each, dead-lettering by routing key):

* ``schedule`` publishes it, persistent and confirmed, to the largest tier not
  longer than its delay, with routing key ``{p}.delayed``; the headers
  ``x-il-subject`` and ``x-il-kind`` (``send`` or ``publish``) say where it goes
  and ``il-due`` when;
* when the tier's TTL runs out the broker dead-letters it to the durable queue
  ``{p}.delayed``, read by the mover of every interlink process that consumes or
  schedules (competing consumers): a message still early goes to the next tier
  that fits the time left (at most 24 hops for a day, each a few milliseconds
  late), a due one is carried out with an ordinary ``send`` or durable
  ``publish`` and only then acknowledged: at least once, and nothing is lost when
  a mover dies or the broker restarts (every queue on the way is durable).
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, cast

from aio_pika.abc import AbstractRobustChannel
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from interlink._errors import BrokerError
from interlink.transports.base import Message
from interlink.transports.rabbitmq._consumer import RawConsumer
from interlink.transports.rabbitmq._publisher import Publisher
from interlink.transports.rabbitmq._topology import DELAY_TIERS_MS, SUBJECT, TRANSPORT_HEADERS

if TYPE_CHECKING:
    from interlink.transports.rabbitmq._transport import RabbitTransport

log = logging.getLogger("interlink")

KIND = "x-il-kind"
MOVER_PREFETCH = 256
DUE_SLACK = 0.005  # this close to due: carried out now


def tier_below(seconds: float) -> int | None:
    """The longest delay tier (ms) not longer than ``seconds``; None when even the shortest is too long."""
    i = bisect.bisect_right(DELAY_TIERS_MS, seconds * 1000.0)
    return DELAY_TIERS_MS[i - 1] if i else None


class Delayed:
    """Scheduling and the mover of one RabbitMQ transport."""

    def __init__(self, transport: RabbitTransport) -> None:
        self._transport = transport
        self.queue = f"{transport.options.prefix}.delayed"
        self._channel: AbstractRobustChannel | None = None
        self._consumer: RawConsumer | None = None
        self._publisher: Publisher | None = None  # the mover's own confirms: senders' window stays theirs

    async def schedule(self, message: Message, due: float, publish: bool) -> None:
        await self.start_mover()
        headers: dict[str, Any] = dict(message.headers)
        headers[SUBJECT] = message.subject
        headers[KIND] = "publish" if publish else "send"
        await self._hop(message.body, headers, due - time.time())

    async def _hop(self, body: bytes, headers: dict[str, Any], left: float, publisher: Publisher | None = None) -> None:
        """Into the tier that fits ``left`` seconds (or straight to the mover's queue)."""
        transport = self._transport
        tier = tier_below(left)
        props = Basic.Properties(headers=cast(Any, headers), delivery_mode=2,
                                 message_id=str(headers.get("il-id", "")) or None)
        publisher = publisher or transport._started()[2]
        exchange = "" if tier is None else transport.names.delay(tier)
        for _ in range(2):
            if tier is not None and tier not in transport._tiers:
                await transport._declare_tier(tier)
            if not await publisher.confirmed(exchange, self.queue, body, props, mandatory=True):
                return
            if tier is None:
                await self._declare()
            else:
                transport._tiers.discard(tier)  # its queue was deleted: declare it again
        raise BrokerError(f"{transport.options.shown}: delay queue {exchange or self.queue} does not take messages")

    async def _declare(self) -> None:
        async with self._transport._scratch() as channel:
            await channel.queue_declare(self.queue, durable=True)

    async def start_mover(self) -> None:
        if self._consumer is not None:
            return
        transport = self._transport
        channel = await transport.open_channel()
        confirms = await transport.open_channel(publisher_confirms=True)
        try:
            self._publisher = Publisher(confirms, transport.options.window)
            await channel.set_qos(prefetch_count=MOVER_PREFETCH)
            queue = await channel.declare_queue(self.queue, durable=True)
            consumer = RawConsumer(channel, queue, self.queue, self._move, no_ack=False)
            await consumer.start()
        except BaseException:
            for opened in (channel, confirms):
                with contextlib.suppress(Exception):
                    await opened.close()
            self._publisher = None
            raise
        self._channel, self._consumer = channel, consumer

    async def stop(self) -> None:
        consumer, channel, publisher = self._consumer, self._channel, self._publisher
        self._consumer = self._channel = self._publisher = None
        if consumer is not None:
            await consumer.cancel()
        if channel is not None:  # deliveries not yet settled go back to the queue, for another mover
            with contextlib.suppress(Exception):
                await channel.close()
        if publisher is not None:
            await publisher.flush(5.0)
            publisher.close()
            with contextlib.suppress(Exception):
                await publisher.channel.close()

    async def _move(self, raw: DeliveredMessage) -> None:
        props = raw.header.properties
        headers = dict(cast("dict[str, Any]", props.headers) if props.headers is not None else {})
        tag = cast(Basic.Deliver, raw.delivery).delivery_tag or 0
        hop = {k: v for k, v in headers.items() if k == SUBJECT or k not in TRANSPORT_HEADERS}
        try:
            try:
                left = float(headers.get("il-due", 0)) - time.time()
            except (TypeError, ValueError):
                left = 0.0
            publisher = self._publisher
            if publisher is None:
                raise BrokerError("the mover has stopped")
            if left > DUE_SLACK:
                await self._hop(raw.body, hop, left, publisher)
            else:
                try:
                    await self._carry_out(raw.body, headers, publisher)
                except Exception as exc:  # e.g. a full queue: again in a second
                    log.warning("delayed message %s not carried out yet: %s", headers.get("il-id"), exc)
                    await self._hop(raw.body, hop, 1.0, publisher)
        except Exception as exc:  # the broker itself fails: back to the queue
            log.warning("delayed message %s not moved yet: %s", headers.get("il-id"), exc)
            with contextlib.suppress(Exception):
                await raw.channel.basic_nack(tag, requeue=True)
            return
        with contextlib.suppress(Exception):
            await raw.channel.basic_ack(tag)

    async def _carry_out(self, body: bytes, headers: dict[str, Any], publisher: Publisher) -> None:
        subject = str(headers.get(SUBJECT, ""))
        kind = headers.get(KIND)
        clean = {k: str(v) for k, v in headers.items() if k not in TRANSPORT_HEADERS and k != KIND}
        message = Message(subject, body, clean)
        if kind == "publish":
            await self._transport.publish(message, durable=True, publisher=publisher)
        else:
            await self._transport.send(message, publisher)
