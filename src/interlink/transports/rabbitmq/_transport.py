"""``amqp://`` transport: RabbitMQ through aio-pika, with every guarantee of the interface.

    bus = interlink.connect("amqp://guest:guest@127.0.0.1:5672/")
    bus = interlink.connect("amqp://u:p@h1:5672,h2:5672,h3:5672/")      # a cluster: quorum queues
    bus = interlink.connect("amqps://u:p@h1/?cafile=ca.pem&certfile=c.pem&keyfile=k.pem")

Hosts, options and TLS files of the URL are described in :mod:`interlink.transports.rabbitmq._url`;
``tls=`` (an ``ssl.SSLContext``) takes the place of the TLS files and makes the connection TLS.

The topology (exchanges, queues, arguments, URL options) is described in
:mod:`interlink.transports.rabbitmq._topology`; consuming in
:mod:`interlink.transports.rabbitmq._consumer`; confirmed publishing in
:mod:`interlink.transports.rabbitmq._publisher`. In short:

- ``request``: published on a confirm channel to the endpoint's live queue with
  ``mandatory=True`` and ``reply_to=amq.rabbitmq.reply-to`` (direct reply-to,
  correlation id per request, no lock: any number in flight). The live queue is
  auto-deleted with its last consumer, so "returned as unroutable" means no
  instance serves the subject: ``NoResponders`` at once, with no per-request
  check. The request expires in the queue with its timeout.
- ``send``: persistent, confirmed, to the endpoint's durable queue; unroutable
  (never served) → to a live member of a non-durable endpoint → else the sender
  declares the durable queue and parks it there.
- ``publish``: durable → ``{p}.events`` (confirmed, persistent); non-durable →
  ``{p}.live``, where only queues of running members are bound.
- ``nack(delay)``: a confirmed copy (attempt + 1) goes to the delay queue of the
  nearest tier, which dead-letters it back to the source queue after the tier's
  TTL; only then is the original acked.
- delayed messages: hops through the same delay tiers to the mover's queue
  ``{p}.delayed`` (:mod:`interlink.transports.rabbitmq._delayed`).
- dead letters: a durable classic queue, browsed without loss
  (:mod:`interlink.transports.rabbitmq._dead`).
- consuming: one channel per binding; a durable binding has two consumers (its
  stored queue and its live queue), each with a prefetch of ``binding.max_inflight``,
  and one semaphore per binding keeps the handlers running at once within
  ``max_inflight``. ``Receipt.working`` does nothing: RabbitMQ has no per-message
  deadline to extend (only the node's consumer timeout, 30 minutes by default);
  an unsettled delivery comes back when its channel or connection goes.
- ``max_payload`` is 16 MiB (RabbitMQ accepts 128 MiB by default, but bodies that
  large stall every other message on the connection).
- after a lost connection aio-pika reconnects (every second, to the next host of
  the URL: :mod:`interlink.transports.rabbitmq._hosts`) and redeclares the queues;
  requests waiting for a reply fail at once with ``ConnectionLost`` (their direct
  reply-to address died with the channel), durable publishes not yet confirmed are
  published again.

Every aio-pika/aiormq error becomes an interlink error in :func:`translate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
import uuid
from collections.abc import AsyncIterator
from functools import partial
from typing import Any, cast

import aio_pika
import aiormq
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from interlink._errors import (
    BrokerError,
    ConnectionLost,
    NoResponders,
    RequestTimeout,
    ValidationError,
)
from interlink.transports._wire import fit, text_headers
from interlink.transports.base import Backlog, Binding, Handler, Message, Subscription, Transport
from interlink.transports.rabbitmq import _dead as dead_letters
from interlink.transports.rabbitmq._backlog import queue_backlog
from interlink.transports.rabbitmq._consumer import Consumer, RawConsumer, to_message, underlay
from interlink.transports.rabbitmq._delayed import Delayed
from interlink.transports.rabbitmq._errors import AMQP_ERRORS as _AMQP_ERRORS
from interlink.transports.rabbitmq._errors import translate
from interlink.transports.rabbitmq._hosts import FailoverConnection
from interlink.transports.rabbitmq._publisher import Publisher
from interlink.transports.rabbitmq._topology import ATTEMPT, SUBJECT, Names, delay_tier
from interlink.transports.rabbitmq._url import parse_url

log = logging.getLogger("interlink")

DIRECT_REPLY = "amq.rabbitmq.reply-to"
FRAME_MAX = 131_072  # RabbitMQ's default; the connection's own value is used once known
PROPERTIES_ROOM = 1024  # the other properties and the frame's own bytes, beside the headers table
class RabbitTransport(Transport):
    """A RabbitMQ connection (robust: it reconnects and restores its consumers by itself)."""

    durable = True
    max_payload = 16 * 1024 * 1024

    def __init__(self, url: str, *, tls: ssl.SSLContext | None = None) -> None:
        if tls is not None and not url.lower().startswith("amqps:"):
            url = "amqps" + url[url.index(":"):]  # a TLS context given: the connection is TLS
        self.tls = tls
        self.options = parse_url(url)
        self.names = Names(self.options)
        self._connection: AbstractRobustConnection | None = None
        self._rpc: AbstractRobustChannel | None = None  # requests + direct reply-to consumer (confirms)
        self._fast: AbstractRobustChannel | None = None  # replies, non-durable publishes, inboxes (no confirms)
        self._publisher: Publisher | None = None  # durable sends and publishes (confirms)
        self._waiting: dict[str, asyncio.Future[Message]] = {}
        self._ids = itertools.count(1)
        self._consumers: set[Consumer] = set()
        self._tiers: set[int] = set()
        self._parked: dict[str, asyncio.Future[None]] = {}
        self._delayed = Delayed(self)

    # -- connection ------------------------------------------------------------

    async def start(self) -> None:
        """Connect to the first host that answers, in the URL's order (a cluster's hosts: each in turn)."""
        if self._connection is not None:
            return
        failures: list[str] = []
        for first in range(len(self.options.urls)):
            try:
                self._connection = await self._dial(first)
                return
            except BrokerError as exc:
                if len(self.options.urls) == 1:
                    raise
                failures.append(str(exc))
        raise BrokerError(f"{self.options.shown}: connect: no host could be used: " + "; ".join(failures))

    async def _dial(self, first: int) -> AbstractRobustConnection:
        opts = self.options
        # Built by hand rather than with connect_robust: a connection given up on (timeout, bad login)
        # must be closed, or it would go on reconnecting in the background.
        connection = FailoverConnection(opts.urls, first, tls=self.tls)
        shown = opts.shown if not opts.cluster else f"{opts.shown} (host {connection.host})"
        try:
            async with asyncio.timeout(opts.connect_timeout):
                await connection.connect(timeout=opts.connect_timeout)
                await self._open(connection)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await connection.close()
            if isinstance(exc, TimeoutError):
                raise BrokerError(f"{shown}: connect: no answer within {opts.connect_timeout:g}s "
                                  f"(host unreachable or not an AMQP port?)") from None
            if isinstance(exc, Exception):
                raise translate(exc, shown, "connect", opts.vhost) from None
            raise
        return connection

    async def _open(self, connection: AbstractRobustConnection) -> None:
        channel = await connection.channel(publisher_confirms=False)
        for name in (self.names.events, self.names.live):
            await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        await channel.close()
        rpc = await connection.channel(publisher_confirms=True, on_return_raises=False)
        await RawConsumer(rpc, None, DIRECT_REPLY, self._on_reply, no_ack=True).start()
        rpc.close_callbacks.add(self._rpc_closed)
        self._rpc = rpc
        self._fast = await connection.channel(publisher_confirms=False)
        pub = await connection.channel(publisher_confirms=True, on_return_raises=False)
        self._publisher = Publisher(pub, self.options.window)

    async def close(self) -> None:
        if self._connection is None:
            return
        with contextlib.suppress(Exception):  # first, while the connection is up: what it holds goes back
            await self._delayed.stop()
        connection, self._connection = self._connection, None
        consumers, self._consumers = list(self._consumers), set()
        # The bus has given its handlers their grace already; here the rest only get a moment.
        await asyncio.gather(*(c.stop(grace=1.0) for c in consumers), return_exceptions=True)
        if self._publisher is not None:
            left = await self._publisher.flush(5.0)
            if left:
                log.warning("%s: closing with %d durable publishes unconfirmed", self.options.shown, left)
            self._publisher.close()
        self._fail_waiting(BrokerError(f"{self.options.shown}: the transport was closed"))
        with contextlib.suppress(Exception):
            await connection.close()

    def _fail_waiting(self, exc: Exception) -> None:
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(exc)

    def _rpc_closed(self, *_: object) -> None:
        # Direct reply-to addresses die with their channel: no reply can come to the requests in flight.
        if self._waiting:
            self._fail_waiting(ConnectionLost(f"{self.options.shown}: connection lost while waiting for a reply"))

    async def open_channel(self, publisher_confirms: bool = False) -> AbstractRobustChannel:
        if self._connection is None:
            raise BrokerError(f"{self.options.shown}: the transport is not started")
        if publisher_confirms:
            return await self._connection.channel(publisher_confirms=True, on_return_raises=False)
        return await self._connection.channel(publisher_confirms=False)

    @contextlib.asynccontextmanager
    async def _scratch(self) -> AsyncIterator[aiormq.abc.AbstractChannel]:
        """A short-lived channel for rare topology work, so a refusal never closes a busy channel."""
        channel = await self.open_channel()
        try:
            yield await channel.get_underlay_channel()
        finally:
            with contextlib.suppress(Exception):
                await channel.close()

    def _started(self) -> tuple[AbstractRobustChannel, AbstractRobustChannel, Publisher]:
        if self._rpc is None or self._fast is None or self._publisher is None or self._connection is None:
            raise BrokerError(f"{self.options.shown}: the transport is not started")
        return self._rpc, self._fast, self._publisher

    async def _exists(self, queue: str) -> bool:
        try:
            async with self._scratch() as channel:  # a missing queue closes this channel only
                await channel.queue_declare(queue, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            return False
        return True

    # -- request/response ----------------------------------------------------------

    async def request(self, message: Message, timeout: float) -> Message:
        rpc, _, _ = self._started()
        self._check_headers(message.headers)
        cid = str(next(self._ids))
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[cid] = future
        props = Basic.Properties(headers=cast(Any, message.headers), reply_to=DIRECT_REPLY, correlation_id=cid,
                                 message_id=cid, expiration=str(max(1, int(timeout * 1000))), delivery_mode=1)
        try:
            async with asyncio.timeout(timeout):
                raw = await rpc.get_underlay_channel()
                result = await raw.basic_publish(message.body, exchange="", properties=props, mandatory=True,
                                                 routing_key=self.names.requests(message.subject))
                if isinstance(result, DeliveredMessage):
                    raise NoResponders(f"no instance serves {message.subject!r}")
                reply = await future
        except TimeoutError:
            raise RequestTimeout(f"no reply from {message.subject!r} within {timeout:.3f}s") from None
        except _AMQP_ERRORS as exc:
            raise translate(exc, self.options.shown, f"request {message.subject!r}") from None
        finally:
            self._waiting.pop(cid, None)
            if future.done() and not future.cancelled():
                future.exception()  # failed by a lost connection after this call stopped waiting: seen
        reply.subject = message.subject
        return reply

    async def _on_reply(self, raw: DeliveredMessage) -> None:
        props = raw.header.properties
        future = self._waiting.pop(props.correlation_id or "", None)
        if future is not None and not future.done():  # a late reply finds nothing: dropped
            future.set_result(Message("", raw.body, text_headers(props.headers, "amqp reply")))

    async def reply(self, address: str, message: Message) -> None:
        _, fast, _ = self._started()
        self._check_headers(message.headers)
        routing_key, _, cid = address.partition(" ")
        props = Basic.Properties(headers=cast(Any, message.headers), correlation_id=cid or None, delivery_mode=1,
                                 message_id=message.headers.get("il-id") or str(next(self._ids)))
        try:
            raw = await underlay(fast)
            # mandatory=False: RabbitMQ returns direct replies sent with mandatory=True although it delivers them
            await raw.basic_publish(message.body, exchange="", routing_key=routing_key, properties=props,
                                    mandatory=False, wait=False)
        except _AMQP_ERRORS as exc:
            raise translate(exc, self.options.shown, "reply") from None

    async def inbox(self, handler: Handler) -> str:
        _, fast, _ = self._started()
        name = self.names.inbox(uuid.uuid4().hex)
        try:
            await fast.declare_queue(name, exclusive=True, auto_delete=True)
            await RawConsumer(fast, None, name, partial(self._on_inbox, handler), no_ack=True).start()
        except _AMQP_ERRORS as exc:
            raise translate(exc, self.options.shown, "open an inbox") from None
        return name

    @staticmethod
    async def _on_inbox(handler: Handler, raw: DeliveredMessage) -> None:
        try:
            await handler(to_message(raw, None, None))
        except Exception:
            log.exception("inbox handler failed")

    # -- one-way -------------------------------------------------------------------

    async def send(self, message: Message, publisher: Publisher | None = None) -> None:
        """(``publisher``: the delayed-message mover's own confirm channel, else the transport's.)"""
        publisher = publisher or self._started()[2]
        self._check_headers(message.headers)
        props = Basic.Properties(headers=cast(Any, message.headers), delivery_mode=2, message_id=str(next(self._ids)))
        on_return = partial(self._unrouted_send, message.subject, message.body, props)
        try:
            await publisher.put("", self.names.endpoint(message.subject), message.body, props, on_return)
        except _AMQP_ERRORS as exc:
            raise translate(exc, self.options.shown, f"send {message.subject!r}") from None

    async def _unrouted_send(self, subject: str, body: bytes, props: Basic.Properties) -> None:
        """No durable queue for ``subject``: a running non-durable endpoint, else park it for the first member."""
        _, _, publisher = self._started()
        if not await publisher.confirmed("", self.names.requests(subject), body, props, mandatory=True):
            return
        queue = self.names.endpoint(subject)
        for _ in range(2):
            await self._park(queue)
            if not await publisher.confirmed("", queue, body, props, mandatory=True):
                return
            self._parked.pop(queue, None)  # deleted since: declare it again
        log.error("send to %r could not be stored: queue %s does not take messages", subject, queue)

    async def _park(self, queue: str) -> None:
        """Declare a durable endpoint queue once per connection, however many sends wait for it."""
        task = self._parked.get(queue)
        if task is None:
            task = self._parked[queue] = asyncio.ensure_future(self._declare_stored(queue))
        try:
            await asyncio.shield(task)
        except BaseException:
            self._parked.pop(queue, None)
            raise

    async def _declare_stored(self, queue: str) -> None:
        async with self._scratch() as channel:
            await channel.queue_declare(queue, durable=True, arguments=self.names.stored_arguments())

    async def publish(self, message: Message, *, durable: bool = True, publisher: Publisher | None = None) -> None:
        _, fast, own = self._started()
        publisher = publisher or own
        self._check_headers(message.headers)
        try:
            if durable:
                props = Basic.Properties(headers=cast(Any, message.headers), delivery_mode=2,
                                         message_id=str(next(self._ids)))
                await publisher.put(self.names.events, message.subject, message.body, props)
            else:
                props = Basic.Properties(headers=cast(Any, message.headers), delivery_mode=1,
                                         message_id=message.headers.get("il-id") or str(next(self._ids)))
                raw = await underlay(fast)
                await raw.basic_publish(message.body, exchange=self.names.live, routing_key=message.subject,
                                        properties=props, mandatory=False, wait=True)
        except _AMQP_ERRORS as exc:
            raise translate(exc, self.options.shown, f"publish {message.subject!r}") from None

    # -- retries ---------------------------------------------------------------------

    async def retry_later(self, queue: str, message: Message, delay: float) -> None:
        """Park a copy (attempt + 1) in the delay queue nearest ``delay``; it dead-letters back to ``queue``."""
        _, _, publisher = self._started()
        tier = delay_tier(delay)
        headers = dict(message.headers)
        headers[ATTEMPT] = str(message.attempt + 1)
        headers[SUBJECT] = message.subject
        if sum(_header_cost(k, v) for k, v in headers.items()) > self._header_room():
            # the copy would not fit in one frame (the broker would close the connection): keep it as dead
            reason = "headers too large to add the retry count (the broker's frame limit)"
            await self.dead_letter(Message(message.subject, message.body, {
                **message.headers, "il-dead-reason": reason, "il-dead-attempts": str(message.attempt)}))
            return
        props = Basic.Properties(headers=cast(Any, headers), delivery_mode=2, message_id=str(next(self._ids)))
        exchange = self.names.delay(tier)
        for _ in range(2):
            if tier not in self._tiers:
                await self._declare_tier(tier)
            if not await publisher.confirmed(exchange, queue, message.body, props, mandatory=True):
                return
            self._tiers.discard(tier)  # its queue was deleted: declare it again
        raise BrokerError(f"{self.options.shown}: delay queue {exchange} does not take messages")

    async def _declare_tier(self, tier: int) -> None:
        name = self.names.delay(tier)
        async with self._scratch() as channel:
            await channel.exchange_declare(name, exchange_type="fanout", durable=True)
        try:
            async with self._scratch() as channel:
                await channel.queue_declare(name, durable=True, arguments=self.names.delay_arguments(tier))
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            # declared earlier as another queue type (a single node, then a cluster): it delays all the same
            log.warning("delay queue %s exists with other arguments; using it as it is: %s", name, exc)
        async with self._scratch() as channel:
            await channel.queue_bind(name, name, routing_key="")
        self._tiers.add(tier)

    async def schedule(self, message: Message, due: float, *, publish: bool) -> None:
        """Through the delay tiers (see :mod:`interlink.transports.rabbitmq._delayed`)."""
        try:
            await self._delayed.schedule(message, due, publish)
        except _AMQP_ERRORS as exc:
            raise translate(exc, self.options.shown, f"schedule {message.subject!r}") from None

    # -- header sizes ------------------------------------------------------------------

    def _header_room(self) -> int:
        """Bytes the headers table may take: all properties travel in one frame of at most ``frame_max``,
        and the broker closes the whole connection on a larger one."""
        try:
            frame_max = int(self._connection.transport.connection.connection_tune.frame_max)  # type: ignore[union-attr]
        except (AttributeError, TypeError, ValueError):
            frame_max = FRAME_MAX
        return (frame_max or FRAME_MAX) - PROPERTIES_ROOM

    def _check_headers(self, headers: dict[str, str]) -> None:
        """ValidationError for headers too large for one frame (measured exactly only when they might be)."""
        if len(headers) > 64 or sum(len(k) + len(v) for k, v in headers.items()) * 4 > self._header_room():
            size = sum(_header_cost(k, v) for k, v in headers.items())
            if size > self._header_room():
                raise ValidationError(f"{self.options.shown}: headers of {size} bytes exceed the broker's frame "
                                      f"limit ({self._header_room()} bytes for headers)")

    # -- dead letters ----------------------------------------------------------------

    async def dead_letter(self, message: Message) -> None:
        """Kept in the dead-letter queue, cut to fit one frame of headers and the payload limit."""
        _, _, publisher = self._started()
        message = fit(message, self._header_room() - 600, self.max_payload, _header_cost)
        headers = dict(message.headers)
        headers[SUBJECT] = message.subject
        props = Basic.Properties(headers=cast(Any, headers), delivery_mode=2, message_id=str(next(self._ids)))
        try:
            for _ in range(2):
                if not await publisher.confirmed("", self.names.dead, message.body, props, mandatory=True):
                    return
                await self._declare_dead()
        except _AMQP_ERRORS as exc:
            raise translate(exc, self.options.shown, "dead-letter") from None
        raise BrokerError(f"{self.options.shown}: dead-letter queue {self.names.dead} does not take messages")

    async def _declare_dead(self) -> None:
        async with self._scratch() as channel:
            await channel.queue_declare(self.names.dead, durable=True, arguments=self.names.dead_arguments())

    async def dead_letters(self, limit: int = 1000) -> list[Message]:
        self._started()
        try:
            async with self._scratch() as channel:
                return await dead_letters.browse(channel, self.names.dead, self.names.dead_arguments(), limit)
        except _AMQP_ERRORS as exc:
            raise translate(exc, self.options.shown, "list dead letters") from None

    async def remove_dead_letters(self, message_ids: set[str] | None = None) -> int:
        self._started()
        try:
            async with self._scratch() as channel:
                return await dead_letters.remove(channel, self.names.dead, self.names.dead_arguments(), message_ids)
        except _AMQP_ERRORS as exc:
            raise translate(exc, self.options.shown, "remove dead letters") from None

    # -- consuming ---------------------------------------------------------------------

    async def backlog(self) -> list[Backlog]:
        try:
            return await queue_backlog(list(self._consumers), self._scratch)
        except _AMQP_ERRORS as exc:
            raise translate(exc, self.options.shown, "read the queues") from None

    async def consume(self, binding: Binding, handler: Handler) -> Subscription:
        self._started()
        try:
            parked = binding.kind == "endpoint" and not binding.durable and await self._exists(
                self.names.endpoint(binding.pattern))
            plans = self.names.plans(binding.kind, binding.pattern, binding.group, binding.durable,
                                     uuid.uuid4().hex, parked)
            consumer = Consumer(self, binding, plans, handler)
            await consumer.start()
            if binding.durable:
                await self._delayed.start_mover()  # where services run, due delayed messages move
        except _AMQP_ERRORS as exc:
            raise translate(exc, self.options.shown, f"consume {binding.pattern!r}") from None
        self._consumers.add(consumer)
        return _Subscription(self, consumer)


def _header_cost(name: str, value: str) -> int:
    """Bytes of one string entry of an AMQP field table (pamqp cuts names to 128 bytes)."""
    return 2 + min(len(name.encode()), 128) + 4 + len(value.encode())


class _Subscription:
    def __init__(self, transport: RabbitTransport, consumer: Consumer) -> None:
        self._transport = transport
        self._consumer = consumer

    async def stop(self) -> None:
        self._transport._consumers.discard(self._consumer)
        await self._consumer.stop()
