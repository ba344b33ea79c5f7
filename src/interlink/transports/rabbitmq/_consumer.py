"""The consuming side of the ``amqp://`` transport: one channel per binding, settled deliveries.

Consumers are registered straight on the aiormq channel: each delivery costs one
task (aiormq's) and no wrapper object, and the robust channel's reopen callback
registers them again after a reconnect (aio-pika has redeclared the queues and
bindings by then). Every delivery is acked after its handler, also on live
queues (where the ack only frees the slot).

A binding may consume two queues (a durable one: its stored queue and its live
queue, e.g. an endpoint's sends and its requests). Each consumer gets a
prefetch of ``binding.max_inflight``, so either queue can use the whole window
while the other is idle, and one semaphore per binding lets at most
``max_inflight`` handlers run: a delivery beyond that waits in memory (at most
``max_inflight`` of them). A channel-wide prefetch (``global`` QoS) would bound
both queues at once, but quorum queues refuse it; a split window would halve
each queue's share.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, Protocol, cast

import aiormq
from aio_pika.abc import AbstractRobustChannel, AbstractRobustQueue
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from interlink.transports._wire import MAX_ATTEMPT, parse_attempt, text_headers
from interlink.transports.base import Binding, Handler, Message
from interlink.transports.rabbitmq._topology import ATTEMPT, SUBJECT, TRANSPORT_HEADERS, QueuePlan

log = logging.getLogger("interlink")

SETUP_ATTEMPTS = 4


class Owner(Protocol):
    """What a consumer needs from its transport."""

    async def open_channel(self) -> AbstractRobustChannel: ...

    async def retry_later(self, queue: str, message: Message, delay: float) -> None: ...


def to_message(raw: DeliveredMessage, subject: str | None, receipt: Receipt | None) -> Message:
    """A delivery as a transport Message; ``subject`` is fixed for endpoints, else the routing key."""
    props = raw.header.properties
    found = cast("dict[str, Any]", props.headers) if props.headers is not None else {}
    delivery = cast(Basic.Deliver, raw.delivery)
    where = f"amqp {delivery.routing_key}"
    attempt = 2 if delivery.redelivered else 1
    if ATTEMPT in found or SUBJECT in found or "x-death" in found or "x-delivery-count" in found:
        count = found.get("x-delivery-count")
        own = found.get(ATTEMPT)
        attempt = (parse_attempt(own, where) if own is not None else None) or 1
        if isinstance(count, int) and 0 <= count < MAX_ATTEMPT:  # quorum queues count redeliveries themselves
            attempt += count
        elif delivery.redelivered:
            attempt += 1
        named = found.get(SUBJECT)
        subject = subject or (named if isinstance(named, str) else None)
    headers = text_headers(found, where, TRANSPORT_HEADERS)
    reply_to = f"{props.reply_to} {props.correlation_id or ''}" if props.reply_to else None
    return Message(subject or delivery.routing_key or "", raw.body, headers, reply_to, attempt, receipt)


class Receipt:
    """Settles one stored delivery on the channel it came from."""

    __slots__ = ("_consumer", "_queue", "_raw", "message", "settled")

    def __init__(self, consumer: Consumer, queue: str, raw: DeliveredMessage) -> None:
        self._consumer = consumer
        self._queue = queue
        self._raw = raw
        self.message: Message | None = None
        self.settled = False

    async def ack(self) -> None:
        if not self.settled:
            self.settled = True
            await _settle(self._raw, requeue=None)

    async def reject(self) -> None:
        await self.ack()  # the bus has dead-lettered it: drop it here

    async def working(self) -> None:
        """Does nothing: RabbitMQ has no per-delivery deadline to extend, and no AMQP method resets one.

        An unacked delivery stays with this consumer until its channel or connection
        closes (``Binding.ack_wait`` plays no part). The only clock is the node's
        ``consumer_timeout`` (30 minutes by default; node-wide in 3.10, per queue from
        3.12): past it the broker closes the channel, every unacked delivery on it is
        delivered again, and the acks of handlers still running are lost. A handler
        that may run that long needs a longer ``consumer_timeout`` on the broker.
        """
        return None

    async def nack(self, delay: float) -> None:
        if self.settled or self.message is None:
            return
        self.settled = True
        try:  # the copy must be confirmed before the original goes
            await self._consumer.owner.retry_later(self._queue, self.message, delay)
        except Exception as exc:
            log.warning("retry of a message on %s failed (%s); the broker redelivers it now", self._queue, exc)
            await _settle(self._raw, requeue=True)
        else:
            await _settle(self._raw, requeue=None)

    async def requeue(self) -> None:
        if not self.settled:
            self.settled = True
            await _settle(self._raw, requeue=True)


async def underlay(channel: AbstractRobustChannel) -> aiormq.Channel:
    """The aiormq channel under a robust one (waits while the connection is being restored)."""
    return cast(aiormq.Channel, await channel.get_underlay_channel())


async def _settle(raw: DeliveredMessage, *, requeue: bool | None) -> None:
    """Ack (requeue=None) or nack; on a channel that has gone the broker redelivers anyway."""
    tag = cast(Basic.Deliver, raw.delivery).delivery_tag or 0
    with contextlib.suppress(aiormq.exceptions.ChannelInvalidStateError, aiormq.exceptions.AMQPError,
                             ConnectionError):
        if requeue is None:
            await raw.channel.basic_ack(tag, wait=False)
        else:
            await raw.channel.basic_nack(tag, requeue=requeue, wait=False)


Callback = Callable[[DeliveredMessage], Coroutine[Any, Any, None]]


class RawConsumer:
    """One consumer tag on a robust channel, registered again whenever the channel reopens."""

    def __init__(self, channel: AbstractRobustChannel, queue: AbstractRobustQueue | None, name: str,
                 callback: Callback, *, no_ack: bool) -> None:
        self.channel = channel
        self.queue = queue
        self.name = name
        self.callback = callback
        self.no_ack = no_ack
        self.tag = f"il.{uuid.uuid4().hex}"
        self.stopped = False
        self._recovery: asyncio.Task[None] | None = None
        channel.reopen_callbacks.add(self._reopened)

    async def start(self) -> None:
        raw = await underlay(self.channel)
        raw.on_consumer_cancel_callbacks.add(self._cancelled)
        if self.tag not in raw.consumers:
            await raw.basic_consume(self.name, self.callback, no_ack=self.no_ack, consumer_tag=self.tag)

    async def _reopened(self, *_: object) -> None:
        if not self.stopped:
            await self.start()

    def _cancelled(self, frame: Basic.Cancel) -> None:
        # The broker cancels a consumer when its queue is deleted: declare it again and go on.
        if frame.consumer_tag == self.tag and not self.stopped and self._recovery is None:
            self._recovery = asyncio.ensure_future(self._recover())

    async def _recover(self) -> None:
        pause = 0.2
        try:
            while not self.stopped:
                try:
                    if self.queue is not None:
                        await self.queue.restore()
                    await self.start()
                    log.warning("queue %s was deleted by the broker; declared it again", self.name)
                    return
                except Exception as exc:
                    log.warning("consumer of %s could not resume (%s); retrying", self.name, exc)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 10.0)
        finally:
            self._recovery = None

    async def cancel(self) -> None:
        self.stopped = True
        self.channel.reopen_callbacks.discard(self._reopened)
        if self._recovery is not None:
            self._recovery.cancel()
        with contextlib.suppress(Exception):
            raw = await asyncio.wait_for(underlay(self.channel), 1.0)
            if self.tag in raw.consumers:
                await raw.basic_cancel(self.tag, timeout=5.0)


class Consumer:
    """One ``consume()`` call: a channel, its queues (a stored and/or a live one) and the handler."""

    def __init__(self, owner: Owner, binding: Binding, plans: list[QueuePlan], handler: Handler) -> None:
        self.owner = owner
        self.binding = binding
        self.plans = plans
        self.handler = handler
        self.channel: AbstractRobustChannel | None = None
        self.consumers: list[RawConsumer] = []
        self._subject = binding.pattern if binding.kind == "endpoint" else None
        self._slots = asyncio.Semaphore(max(1, binding.max_inflight))  # shared by the binding's queues
        self._stopping = False
        self._busy = 0
        self._idle: asyncio.Event | None = None
        self._passive: set[str] = set()

    @property
    def busy(self) -> int:
        """Deliveries handed to the handler and not yet settled."""
        return self._busy

    async def start(self) -> None:
        """Declare, bind and consume; retried when a shared live queue vanished in between."""
        for attempt in range(1, SETUP_ATTEMPTS + 1):
            channel = await self.owner.open_channel()
            try:
                await self._setup(channel)
            except (aiormq.exceptions.ChannelNotFoundEntity, aiormq.exceptions.ChannelPreconditionFailed) as exc:
                await self._discard(channel)
                if attempt == SETUP_ATTEMPTS:
                    raise
                if isinstance(exc, aiormq.exceptions.ChannelPreconditionFailed):
                    self._keep_existing(exc)
            except BaseException:
                await self._discard(channel)
                raise
            else:
                self.channel = channel
                return

    def _keep_existing(self, exc: Exception) -> None:
        # A durable queue declared earlier with other arguments (queue type, expiry): use it as it is.
        text = str(exc)
        for plan in self.plans:
            if plan.stored and plan.name in text:
                log.warning("queue %s exists with other arguments than this URL asks for; using it as it is "
                            "(delete it or use a policy to change it): %s", plan.name, text)
                self._passive.add(plan.name)

    async def _setup(self, channel: AbstractRobustChannel) -> None:
        await channel.set_qos(prefetch_count=max(1, min(self.binding.max_inflight, 65_535)))
        for plan in self.plans:
            queue = await channel.declare_queue(
                plan.name, durable=plan.durable, exclusive=plan.exclusive, auto_delete=plan.auto_delete,
                arguments=plan.arguments or None, passive=plan.passive or plan.name in self._passive)
            for exchange, key in plan.binds:
                await queue.bind(exchange, key)
            deliver = partial(self._stored if plan.stored else self._live, plan.name)
            consumer = RawConsumer(channel, queue, plan.name, deliver, no_ack=False)
            self.consumers.append(consumer)
            await consumer.start()

    async def _discard(self, channel: AbstractRobustChannel) -> None:
        for consumer in self.consumers:
            consumer.stopped = True
        self.consumers.clear()
        with contextlib.suppress(Exception):
            await channel.close()

    async def _stored(self, queue: str, raw: DeliveredMessage) -> None:
        self._busy += 1
        try:
            async with self._slots:
                if await self._handed_back(raw):
                    return
                receipt = Receipt(self, queue, raw)
                message = receipt.message = to_message(raw, self._subject, receipt)
                try:
                    await self.handler(message)
                except Exception:
                    log.exception("handler failed on %s", message.subject)
                finally:
                    if not receipt.settled:  # the handler did not settle it: let the broker deliver it again
                        await receipt.requeue()
        finally:
            self._done()

    async def _live(self, queue: str, raw: DeliveredMessage) -> None:
        self._busy += 1
        try:
            async with self._slots:
                if await self._handed_back(raw):
                    return
                try:
                    await self.handler(to_message(raw, self._subject, None))
                except Exception:
                    log.exception("handler failed on a message from %s", queue)
                finally:
                    await _settle(raw, requeue=None)  # frees the prefetch slot
        finally:
            self._done()

    async def _handed_back(self, raw: DeliveredMessage) -> bool:
        """A delivery that waited for a slot is not started once the binding stops or its channel has gone."""
        if raw.channel.is_closed:
            return True  # the broker has put it back already and delivers it again
        if self._stopping:
            await _settle(raw, requeue=True)
            return True
        return False

    def _done(self) -> None:
        self._busy -= 1
        if self._busy == 0 and self._idle is not None:
            self._idle.set()

    async def stop(self, grace: float | None = None) -> None:
        """Cancel the consumers, let the handlers in flight finish (within ``grace``), then close the channel.

        Deliveries still waiting for a slot go back to their queue unhandled. Closing the channel cancels
        handlers still running; their unsettled messages go back to the queue.
        """
        channel, self.channel = self.channel, None
        if channel is None:
            return
        self._stopping = True
        try:
            await asyncio.gather(*(c.cancel() for c in self.consumers))
            if self._busy:
                self._idle = asyncio.Event()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._idle.wait(), grace)
        finally:
            self.consumers.clear()
            with contextlib.suppress(Exception):
                await channel.close()
