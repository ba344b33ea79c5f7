"""``nats://``: interlink on NATS. Requests ride core NATS; sends, notifications
and durable publishes ride JetStream.

How each kind of delivery travels (``S`` is the user's subject or pattern):

============================  ==========================================================
request                       core publish to ``S`` with a reply on this connection's
                              muxed inbox; endpoint members share a queue subscription
                              on ``S`` (queue = the service)
send                          JetStream publish to ``_il.q.S`` (work-queue stream), read
                              by the service's durable pull consumer
publish(durable=True)         JetStream publish to ``_il.e.d.S`` (interest stream), one
                              durable pull consumer per subscribing service
publish(durable=False)        core publish to ``_il.e.l.S``; durable groups hear it on a
                              queue subscription, never stored
live-only subscription        core subscription on ``_il.e.*.S``: hears both publishes
dead letters                  JetStream publish to ``_il.dead.S`` (limits stream)
delayed send / publish        JetStream publish to ``_il.dl.*`` (see ``_delayed``)
============================  ==========================================================

Names starting with ``_`` are reserved for the framework, so no user subject is
captured by a stream and a request can never be answered by a JetStream
acknowledgement. Streams, consumers and their limits (7 days and 1 GiB for
stored messages, 14 days for dead letters, consumers removed after 3 days
without a member) are described in :mod:`interlink.transports.nats._jetstream`.

URL options (retention, replicas, stream limits and storage, TLS files,
``.creds``, NKey seed) are listed in :mod:`interlink.transports.nats._options`;
``tls=`` takes an ``ssl.SSLContext`` instead of the TLS file options.

JetStream publishes carry ``Nats-Msg-Id`` = the ``il-id`` header, so a resend
within 2 minutes is stored once. A publish without an acknowledgement (a lost
connection, a stream leader lost with the request, an election answering 503)
is resent with the same id, with a backoff, for up to 30 seconds, then fails
with :class:`~interlink.ConnectionLost`; JetStream API calls are retried the
same way (:mod:`interlink.transports.nats._retry`). The client reconnects
forever; requests in flight when the connection drops fail at once with
ConnectionLost, and every consumer re-declares itself and pulls again.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import uuid
from typing import TYPE_CHECKING

from interlink._errors import BrokerError, ConnectionLost, InterlinkError, NoResponders, RequestTimeout, ValidationError
from interlink.transports._wire import fit
from interlink.transports.base import Backlog, Binding, Handler, Message, Subscription, TapHandler, Transport
from interlink.transports.nats import _tap
from interlink.transports.nats._calls import Calls, Reply
from interlink.transports.nats._client import FastClient
from interlink.transports.nats._consumer import FRAMED, Consumer
from interlink.transports.nats._delayed import Delayed, delayed_stream, has_schedules
from interlink.transports.nats._frame import frame, unframe
from interlink.transports.nats._jetstream import JetStream, consumer_config
from interlink.transports.nats._options import parse as parse_options
from interlink.transports.nats._retry import Backoff, ack_error, passing_code
from interlink.transports.nats._streams import EVENTS_STREAM, WORK_STREAM
from interlink.transports.nats._support import (
    ANY_EVENT,
    DEAD,
    EVENT,
    EVENT_PREFIX_LEN,
    HEADER_NAME,
    LIVE,
    MSG_ID,
    STATUS,
    WORK,
    Pool,
    broker_errors,
    consumer_name,
    describe,
    log,
    safe_url,
    service_error_headers,
    translate,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription as NatsSubscription

    from interlink._registry import InstanceInfo

CONNECT_WAIT = 5.0  # start() gives up after this long without a connection
STORE_WAIT = 30.0  # a JetStream publish is resent this long through reconnects and leader elections
ACK_WAIT = 2.0  # one attempt at a JetStream publish waits this long for the acknowledgement
HEADROOM = 4096  # bodies this close to the server's limit get their headers measured too
CLOSE_WAIT = 10.0  # close() lets running handlers finish this long, then cancels them
ERROR_LOG_INTERVAL = 5.0
RECONNECT_POLL = 0.05  # how often a JetStream publish looks whether the client has reconnected
REPLY_ADDRESS = re.compile(r"[^\s.*>]+(\.[^\s.*>]+)*")  # a literal subject: no spaces, wildcards or empty tokens
MAX_HEADERS = 65_535  # JetStream refuses a message whose header block is larger


def _header_cost(name: str, value: str) -> int:
    return len(name.encode()) + len(value.encode()) + 4  # "name: value\r\n"


class NatsTransport(Transport):
    """A connection to a NATS server with JetStream (see the module docstring)."""

    durable = True

    def __init__(self, url: str, *, tls: ssl.SSLContext | None = None) -> None:
        self.options = parse_options(url, tls)
        self.url, self.retention = self.options.url, self.options.retention
        self._framed = self.options.envelope == "frame"
        self._client: FastClient | None = None
        self._js: JetStream | None = None
        self._calls = Calls()
        self._room = 0
        self._starting: asyncio.Future[BaseException] | None = None
        self._start_errors: list[Exception] = []
        self._errors = 0
        self._quiet_until = 0.0
        self._consumers: set[Consumer] = set()
        self._inboxes: list[NatsSubscription] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._delayed: Delayed | None = None

    # -- connection ----------------------------------------------------------

    async def start(self) -> None:
        if self._client is not None:
            return
        client = FastClient()
        await self._connect(client)
        try:
            self._calls.prefix = f"{client.new_inbox()}."
            with broker_errors(self.url, "subscribe"):
                self._inboxes.append(await client.subscribe_direct(f"{self._calls.prefix}*", self._calls.on_reply))
            self._js = JetStream(client, self.options)
            schedules = has_schedules(str(client._server_info.get("version", "")))
            self._js.streams = (*self._js.streams, delayed_stream(self.options, self._js.replicas, schedules))
            self._delayed = Delayed(self, schedules)
            await self._js.ensure_streams()
            await self._delayed.check()
        except BaseException:
            await client.close()
            raise
        self.max_payload = client.max_payload
        self._room = client.max_payload - HEADROOM
        self._client = client

    async def _connect(self, client: FastClient) -> None:
        """Connect, or raise BrokerError with the first cause, within CONNECT_WAIT seconds."""
        loop = asyncio.get_running_loop()
        self._starting = failed = loop.create_future()
        self._start_errors.clear()
        connecting = asyncio.ensure_future(client.connect(
            [u.strip() for u in self.url.split(",")], name="interlink", error_cb=self._on_error,
            disconnected_cb=self._on_disconnect, reconnected_cb=self._on_reconnect,
            max_reconnect_attempts=-1, reconnect_time_wait=1, connect_timeout=2, ping_interval=10,
            max_outstanding_pings=3, **self.options.connect_options()))
        try:
            await asyncio.wait({connecting, failed}, timeout=CONNECT_WAIT, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._starting = None
        if connecting.done() and connecting.exception() is None:
            return
        connecting.cancel()
        with contextlib.suppress(BaseException):
            await connecting
        with contextlib.suppress(Exception):
            await client.close()
        cause: BaseException = failed.result() if failed.done() else TimeoutError()
        raise BrokerError(f"cannot connect to NATS at {safe_url(self.url)}: {describe(cause)}") from None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if self._delayed is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._delayed.stop(), CLOSE_WAIT)
        for consumer in list(self._consumers):
            try:
                await asyncio.wait_for(consumer.stop(), CLOSE_WAIT)
            except TimeoutError:
                log.warning("NATS %s: handlers still running after %.0fs; cancelled", safe_url(self.url), CLOSE_WAIT)
            consumer.abort()
        for task in list(self._tasks):
            task.cancel()
        self._calls.stop()
        if self._js is not None:
            await self._js.settler.flush()
        with contextlib.suppress(Exception):
            await client.flush(timeout=2)  # acknowledgements still buffered go out first
        with contextlib.suppress(Exception):
            await client.close()
        self._inboxes.clear()

    async def _on_error(self, exc: Exception) -> None:
        if self._starting is not None and not self._starting.done():
            self._start_errors.append(exc)  # fail fast once every server refused (one down is no failure)
            if len(self._start_errors) >= self.url.count(",") + 1:
                self._starting.set_result(self._start_errors[0])
            return
        self.report(exc)

    def report(self, exc: BaseException) -> None:
        """Log a connection error; a flood (slow consumer drops) logs once per interval."""
        self._errors += 1
        now = asyncio.get_running_loop().time()
        if now >= self._quiet_until:
            self._quiet_until = now + ERROR_LOG_INTERVAL
            more = f" ({self._errors - 1} more since the last report)" if self._errors > 1 else ""
            self._errors = 0
            log.warning("NATS %s: %s%s", safe_url(self.url), describe(exc), more)

    async def _on_disconnect(self) -> None:
        self._calls.fail(ConnectionLost(f"{safe_url(self.url)}: connection lost"))

    async def _on_reconnect(self) -> None:
        log.info("NATS %s: reconnected", safe_url(self.url))
        task = asyncio.ensure_future(self._redeclare())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _redeclare(self) -> None:
        """The server may have lost its state: declare the streams again, then every consumer."""
        if self._js is not None:
            try:
                await self._js.ensure_streams()
            except InterlinkError as exc:
                log.warning("NATS %s: %s", safe_url(self.url), exc)
        for consumer in self._consumers:
            consumer.resume()
        if self._delayed is not None:
            self._delayed.resume()

    @property
    def client(self) -> FastClient:
        if self._client is None:
            raise BrokerError(f"{safe_url(self.url)}: transport is not started")
        return self._client

    # -- core NATS -----------------------------------------------------------

    async def _call(self, subject: str, body: bytes, headers: dict[str, str] | None, timeout: float) -> Reply | None:
        """Publish with a reply to the muxed inbox; the reply, or None after ``timeout``.

        The same idea as nats-py's ``request`` (one wildcard inbox subscription),
        kept here so that a lost connection can fail every call in flight at once
        with ConnectionLost instead of leaving it to its timeout, and so that a
        reply reaches its caller straight from the read loop (no ``Msg``, no task hop).
        """
        client = self.client
        if not client.is_connected:
            raise ConnectionLost(f"{safe_url(self.url)}: not connected (reconnecting)")
        if len(body) > self._room:
            self._check_size(body, headers)
        calls = self._calls
        token, future = calls.open(timeout)
        try:
            await client.post(subject, body, calls.prefix + token, headers)
            return await future
        except InterlinkError:
            raise
        except Exception as exc:
            raise translate(exc, self.url, subject) from None
        finally:
            calls.close(token)

    async def request(self, message: Message, timeout: float) -> Message:
        body, wire_headers = self._wire(message)
        reply = await self._call(message.subject, body, wire_headers, timeout)
        if reply is None:
            raise RequestTimeout(f"no reply from {message.subject!r} within {timeout:.3f}s")
        data, headers = reply
        if headers is not None and not data and headers.get(STATUS) == "503":
            raise NoResponders(f"no instance serves {message.subject!r}")
        headers, data, defect = unframe(data, headers)
        if defect is not None:
            raise BrokerError(f"reply from {message.subject!r}: {defect}")
        return Message(message.subject, data, headers)

    async def reply(self, address: str, message: Message) -> None:
        """Framed when the request was (``FRAMED`` marks its address), else in NATS headers for plain clients."""
        framed = address.startswith(FRAMED)
        if framed:
            address = address[len(FRAMED):]
        if not REPLY_ADDRESS.fullmatch(address):  # from the wire: never let it garble the protocol line
            raise ValidationError(f"{address[:80]!r} is not a NATS reply subject")
        extra = None
        if "il-error" in message.headers:  # NATS service clients (ADR-32) read these as a service error
            extra = service_error_headers(message.headers, message.body)
        await self._publish(address, message, framed, extra)

    def _wire(self, message: Message, framed: bool = True,
              extra: dict[str, str] | None = None) -> tuple[bytes, dict[str, str] | None]:
        """The payload and NATS headers of ``message``: its envelope framed in front of the body
        (``extra`` as NATS headers), or, unframed, everything as NATS headers."""
        if framed and self._framed:
            payload = frame(message.headers, message.body)
            if payload is not None:
                return payload, extra
        return message.body, {**message.headers, **extra} if extra else message.headers

    async def _publish(self, subject: str, message: Message, framed: bool = True,
                       extra: dict[str, str] | None = None) -> None:
        body, headers = self._wire(message, framed, extra)
        if len(body) > self._room:
            self._check_size(body, headers)
        try:
            await self.client.post(subject, body, "", headers)
        except Exception as exc:
            raise translate(exc, self.url, subject) from None

    def _check_size(self, body: bytes, headers: dict[str, str] | None) -> None:
        size = len(body) + 12 + sum(len(k) + len(v) + 4 for k, v in (headers or {}).items())
        if size > self.max_payload:
            raise ValidationError(f"message of {size} bytes with its headers exceeds the broker's limit "
                                  f"of {self.max_payload}")

    async def inbox(self, handler: Handler) -> str:
        client = self.client
        address = client.new_inbox()

        async def deliver(msg: Msg) -> None:
            headers, body, defect = unframe(msg.data, msg.headers)
            await handler(Message(msg.subject, body, headers, defect=defect))

        with broker_errors(self.url, "open an inbox"):
            self._inboxes.append(await client.subscribe(address, cb=deliver))
            await client.flush(timeout=5)
        return address

    # -- JetStream -----------------------------------------------------------

    async def send(self, message: Message) -> None:
        await self._store(WORK + message.subject, message, message.headers.get("il-id"), framed=True)

    async def publish(self, message: Message, *, durable: bool = True) -> None:
        if durable:
            await self._store(EVENT + message.subject, message, message.headers.get("il-id"), framed=True)
        else:
            await self._publish(LIVE + message.subject, message)

    async def _store(self, subject: str, message: Message, msg_id: str | None, *, framed: bool = False) -> None:
        """Publish to JetStream and wait for the acknowledgement, resending (same Nats-Msg-Id, so stored
        once) through reconnects and leader elections for at most STORE_WAIT seconds. Framed, only
        ``Nats-Msg-Id`` travels as a NATS header; dead letters and schedules keep NATS headers (read
        by operators' tools and by the server's scheduler)."""
        body, headers = self._wire(message, framed, {MSG_ID: msg_id} if msg_id else None)
        backoff = Backoff(STORE_WAIT)
        declared = False
        while True:
            left = backoff.left()
            if left <= 0:
                raise ConnectionLost(f"{safe_url(self.url)}: {subject} was not stored within {STORE_WAIT:.0f}s")
            if not self.client.is_connected:
                await asyncio.sleep(min(RECONNECT_POLL, left))
                continue
            try:
                ack = await self._call(subject, body, headers, min(left, ACK_WAIT))
            except ConnectionLost:
                continue
            if ack is None:
                continue  # no acknowledgement in time (a leader lost with the request, say): resend
            data, ack_headers = ack
            if not data and ack_headers and ack_headers.get(STATUS) == "503":
                if not declared:  # no stream: the server lost its state; declare (bounded) and resend
                    declared = True
                    with contextlib.suppress(TimeoutError, InterlinkError):
                        await asyncio.wait_for(self._jetstream.ensure_streams(), max(0.1, backoff.left()))
                    continue
                if await backoff.wait():  # no stream leader right now: an election
                    continue
            code, err_code, error = ack_error(data)
            if not error:
                return
            if passing_code(code, err_code) and await backoff.wait():  # "JetStream temporarily unavailable"
                continue
            raise BrokerError(f"{safe_url(self.url)}: JetStream refused {subject}: {error}")

    @property
    def _jetstream(self) -> JetStream:
        if self._js is None:
            raise BrokerError(f"{safe_url(self.url)}: transport is not started")
        return self._js

    async def schedule(self, message: Message, due: float, *, publish: bool) -> None:
        """Held by the ``interlink_delayed`` stream (see :mod:`interlink.transports.nats._delayed`)."""
        if self._delayed is None:
            raise BrokerError(f"{safe_url(self.url)}: transport is not started")
        await self._delayed.schedule(message, due, publish)

    async def dead_letter(self, message: Message) -> None:
        """Stored under ``Nats-Msg-Id`` = ``<il-id>.<service>.dead.<random>``: resends through a reconnect
        are stored once, while a second dead-lettering of the same id (a sender's repeated id, a failed
        replay) is never taken for a duplicate. Cut to fit JetStream's limits."""
        headers = message.headers
        msg_id = f"{headers.get('il-id', '')[:120]}.{headers.get('il-dead-service', '')[:60]}.dead.{uuid.uuid4().hex}"
        unsendable = [name for name in headers if not HEADER_NAME.fullmatch(name)]
        if unsendable:  # names a client may not send (NATS readers are lenient, writers are not)
            kept = {k: v for k, v in headers.items() if k not in unsendable}
            kept["il-dead-cut"] = f"{len(unsendable)} header(s) whose names NATS clients cannot send dropped"
            message = Message(message.subject, message.body, kept, attempt=message.attempt)
        message = fit(message, MAX_HEADERS - 400, self.max_payload - 400, _header_cost)
        await self._store(DEAD + message.subject, message, msg_id)

    async def dead_letters(self, limit: int = 1000) -> list[Message]:
        return [m for _, m in await self._jetstream.browse_dead(limit)]

    async def remove_dead_letters(self, message_ids: set[str] | None = None) -> int:
        return await self._jetstream.remove_dead(message_ids)

    async def serve_discovery(self, snapshot: Callable[[], Sequence[InstanceInfo]]) -> None:
        from interlink.transports.nats._services import serve_services_api

        with broker_errors(self.url, "subscribe to $SRV.>"):
            self._inboxes.append(await serve_services_api(self.client, snapshot))
            await self.client.flush(timeout=5)

    async def tap(self, handler: TapHandler) -> Subscription:
        """Every interlink message crossing the server (see ``_tap``); stops with ``stop()``."""
        with broker_errors(self.url, "tap the traffic"):
            return await _tap.tap(self.client, handler)

    async def backlog(self) -> list[Backlog]:
        with broker_errors(self.url, "read the consumers"):
            return await _tap.backlog(self._jetstream.jsm, {WORK_STREAM: WORK, EVENTS_STREAM: EVENT})

    # -- consuming -----------------------------------------------------------

    async def consume(self, binding: Binding, handler: Handler) -> Consumer:
        consumer = Consumer(self, Pool(handler, binding.max_inflight))
        try:
            if self._delayed is not None and binding.durable:
                await self._delayed.start_mover()  # where services run, due delayed messages move
            await self._bind(consumer, binding)
            with broker_errors(self.url, "subscribe"):
                await self.client.flush(timeout=5)  # the server has our interest before we return
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    async def _bind(self, consumer: Consumer, binding: Binding) -> None:
        pattern, group = binding.pattern, binding.group
        inflight, ack_wait = binding.max_inflight, binding.ack_wait
        if binding.kind == "endpoint":
            await consumer.listen(pattern, group, 0, requests=True)
            if group is None:  # every member hears sends while it runs
                await consumer.listen(WORK + pattern, None, len(WORK))
                return
            # named by the subject alone: the endpoint's stored messages outlive a renamed service
            config = consumer_config(consumer_name("endpoint", pattern), WORK + pattern, new_only=False,
                                     inflight=inflight, ack_wait=ack_wait, idle=self.retention)
            await consumer.pull(WORK_STREAM, config, len(WORK), settle=binding.durable)
        elif binding.durable and group is not None:
            await consumer.listen(LIVE + pattern, group, EVENT_PREFIX_LEN)
            config = consumer_config(consumer_name(binding.name or group, pattern), EVENT + pattern,
                                     new_only=True, inflight=inflight, ack_wait=ack_wait, idle=self.retention)
            await consumer.pull(EVENTS_STREAM, config, EVENT_PREFIX_LEN, settle=True)
        else:
            await consumer.listen(ANY_EVENT + pattern, group, EVENT_PREFIX_LEN)
