"""The Bus: binds services to a transport and offers the five styles.

Outbound calls build the envelope (ids, sender, deadline, trace) and hand bytes
to the transport; inbound messages go through one Dispatcher per handler.
Every style is written here once, over the transport interface.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any

from interlink import _headers as h
from interlink import _registry, observe
from interlink._codec import Codec
from interlink._context import Context, Reply
from interlink._dead import DeadLetters
from interlink._delay import due_time
from interlink._dispatch import Dispatcher
from interlink._errors import RemoteError, RequestTimeout, ValidationError
from interlink._killswitch import Switch, switched
from interlink._resilience import Policies, Policy, guarded_request
from interlink._service import Service
from interlink._subjects import check_subject
from interlink.transports.base import Binding, Message, Subscription, Transport

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("interlink")


class Instance:
    """One running instance of a service on a bus."""

    def __init__(self, service: Service, instance_id: str, subscriptions: list[Subscription]) -> None:
        self.service = service
        self.id = instance_id
        self.started = time.time()
        self.stopped = False
        #: Each handler's counters (see interlink._registry), in declaration order.
        self.stats: list[_registry.HandlerStats] = []
        self._subscriptions = subscriptions
        #: The kill switches of its handlers that have one (see interlink._killswitch).
        self.switches: list[Switch] = []

    async def stop(self) -> None:
        """Stop taking messages; those in flight finish (unsettled ones go back to the broker)."""
        self.stopped = True
        subs, self._subscriptions = self._subscriptions, []
        await asyncio.gather(*(s.stop() for s in subs), return_exceptions=True)


class Bus:
    """A connection to a broker, serving services and sending in every style.

    Use as ``async with interlink.connect(url) as bus:``; ``await bus.start()``
    and ``await bus.close()`` do the same by hand.

    Attributes: ``name`` (the sender name of calls made on the bus itself),
    ``instances`` (the service instances it serves), ``policies`` (resilience
    policies per target, or None), ``dead_letters`` (:class:`DeadLetters`: list,
    get, replay and purge the broker's dead letters), ``transport`` (the broker
    connection; the transport interface is for transport authors, not services).
    """

    def __init__(self, transport: Transport, *, format: str = "json", name: str = "client",
                 on_close: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        self.transport = transport
        self.codec = Codec(format)
        self.name = name
        self.instances: list[Instance] = []
        #: Retries, breakers, bulkheads and fallbacks per target (see interlink._resilience); None: none.
        self.policies: Policies | None = None
        #: The broker's dead letters: list, get, replay, purge (see interlink._dead).
        self.dead_letters = DeadLetters(self)
        self._on_close = on_close
        #: Where the styles send: the transport, wrapped by the observe hooks that are on.
        self.out = observe.outgoing(transport, name, observe.system_of(transport))
        self._registry = _registry.Responder(self)
        self._backlog = observe.backlog_sampler(transport, observe.system_of(transport))
        self._inbox: str | None = None
        self._gathers: dict[str, asyncio.Queue[Message]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False
        self._closed = False

    async def start(self) -> Bus:
        if not self._started:
            self._started = True
            await self.transport.start()
        return self

    async def close(self, grace: float = 10.0) -> None:
        """Stop every instance (in-flight handlers get ``grace`` seconds), then disconnect."""
        if self._closed:
            return
        self._closed = True
        self._backlog.stop()
        instances, self.instances = self.instances, []
        try:
            await asyncio.wait_for(asyncio.gather(*(i.stop() for i in instances)), grace)
        except TimeoutError:
            log.warning("bus %s: handlers still running after %.1fs grace; closing anyway", self.name, grace)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        try:
            await self.transport.close()
        finally:
            if self._on_close is not None:
                await self._on_close()

    async def __aenter__(self) -> Bus:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __await__(self) -> Any:
        return self.start().__await__()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background, kept alive until done."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- serving -----------------------------------------------------------

    def kill_switches(self) -> list[dict[str, object]]:
        """The kill switches of every instance served here: service, subject, state, pauses, resumes."""
        return [switch.status() for instance in self.instances for switch in instance.switches]

    async def serve(self, service: Service) -> Instance:
        """Start one instance of ``service``; returns once its subscriptions are live."""
        await self.start()
        instance_id = f"{service.name}-{uuid.uuid4().hex[:8]}"
        subscriptions: list[Subscription] = []
        instance = Instance(service, instance_id, subscriptions)
        try:
            for spec in service.handlers:
                d = spec.delivery
                binding = Binding(
                    spec.kind, spec.subject,
                    group=None if spec.broadcast else service.name,
                    durable=d.durable and not spec.broadcast, name=service.name,
                    max_inflight=d.max_concurrency, ack_wait=d.ack_wait,
                )
                dispatcher = Dispatcher(self, service.name, instance_id, spec)
                instance.stats.append(dispatcher.watch.stats)
                self._backlog.watch(service.name, spec.subject, binding)
                if d.kill_switch is None:
                    subscriptions.append(await self.transport.consume(binding, dispatcher))
                else:
                    subscriptions.append(await switched(self.transport, binding, dispatcher, d.kill_switch, instance))
        except BaseException:
            await instance.stop()
            raise
        self.instances.append(instance)
        await self._registry.start()
        return instance

    # -- who is running ----------------------------------------------------

    async def services(self, within: float = 0.5, service: str | None = None) -> list[_registry.InstanceInfo]:
        """Every service instance running on the broker (or of ``service``), with its handlers' stats.

        Each bus answers within ``within`` seconds; see :mod:`interlink._registry` for the data shape.
        """
        await self.start()
        return await _registry.collect(self, within, service)

    def local_services(self) -> list[_registry.InstanceInfo]:
        """The instances this bus serves, without asking the broker."""
        system = observe.system_of(self.transport)
        return [_registry.instance_info(i, system) for i in self.instances if not i.stopped]

    # -- the five styles ---------------------------------------------------

    def _envelope(self, subject: str, body: Any, parent: Context | None,
                  extra: dict[str, str] | None) -> Message:
        check_subject(subject)
        payload = self.codec.encode(body)
        if len(payload) > self.transport.max_payload:
            raise ValidationError(
                f"body of {len(payload)} bytes exceeds the broker's limit of {self.transport.max_payload}")
        if parent is None and not extra:  # the common call from outside a handler: every field is new
            message_id = h.new_id()
            return Message(subject, payload, {
                h.MESSAGE_ID: message_id, h.VERSION: h.PROTOCOL_TEXT, h.CONTENT_TYPE: self.codec.content_type,
                h.SENDER: self.name, h.CORRELATION_ID: message_id, h.TRACEPARENT: h.new_traceparent()})
        headers = dict(extra) if extra else {}
        message_id = headers.get(h.MESSAGE_ID) or h.new_id()  # a caller's own id makes sends idempotent
        headers[h.MESSAGE_ID] = message_id
        headers[h.VERSION] = h.PROTOCOL_TEXT
        headers[h.CONTENT_TYPE] = self.codec.content_type
        if parent is not None:
            incoming = parent.headers
            headers[h.SENDER] = parent.service
            headers[h.CORRELATION_ID] = incoming.get(h.CORRELATION_ID) or message_id
            headers[h.TRACEPARENT] = h.new_traceparent(incoming.get(h.TRACEPARENT))
            if h.DEADLINE in incoming:
                headers[h.DEADLINE] = incoming[h.DEADLINE]
        else:
            headers[h.SENDER] = self.name
            headers.setdefault(h.CORRELATION_ID, message_id)
            headers[h.TRACEPARENT] = headers.get(h.TRACEPARENT) or h.new_traceparent()
        return Message(subject, payload, headers)

    @staticmethod
    def _deadline(headers: dict[str, str], timeout: float) -> float:
        """Write the deadline of a call that waits ``timeout`` seconds (or less, when the inherited
        deadline is earlier) into ``headers``; returns the seconds left."""
        now = time.time()
        deadline = now + timeout
        inherited = h.parse_deadline(headers[h.DEADLINE]) if h.DEADLINE in headers else None
        if inherited is None or inherited > deadline:
            # to the millisecond (which formats faster than to the µs), rounded down: never later than asked
            headers[h.DEADLINE] = f"{deadline - 0.0005:.3f}"
            return timeout
        return inherited - now

    async def request(self, subject: str, body: Any = None, timeout: float = 5.0, *, reply_type: Any = Any,
                      headers: dict[str, str] | None = None, parent: Context | None = None,
                      policy: Policy | None = None) -> Any:
        """Request/response: send to one instance of the endpoint's service and wait for its reply.

        ``policy`` (or the bus's ``policies``) adds retries, a breaker, a bulkhead and a fallback.
        """
        if policy is not None or self.policies is not None:
            return await guarded_request(self, subject, timeout, policy, parent, lambda seconds: self._request(
                subject, body, seconds, reply_type, headers, parent))
        message, wait = self._request_message(subject, body, timeout, headers, parent)  # no coroutine of ours
        return self._decode_reply(await self.out.request(message, wait), reply_type)

    async def _request(self, subject: str, body: Any, timeout: float, reply_type: Any,
                       headers: dict[str, str] | None, parent: Context | None) -> Any:
        message, wait = self._request_message(subject, body, timeout, headers, parent)
        return self._decode_reply(await self.out.request(message, wait), reply_type)

    def _request_message(self, subject: str, body: Any, timeout: float, headers: dict[str, str] | None,
                         parent: Context | None) -> tuple[Message, float]:
        """A request's message, and how long to wait for its reply (RequestTimeout: no time left)."""
        message = self._envelope(subject, body, parent, headers)
        wait = self._deadline(message.headers, timeout)
        if wait <= 0:
            raise RequestTimeout(f"no time left to request {subject!r} (deadline passed)")
        return message, wait

    def _decode_reply(self, reply: Message, reply_type: Any) -> Any:
        content_type = reply.headers.get(h.CONTENT_TYPE)
        if h.ERROR in reply.headers:
            raise RemoteError.from_wire(self.codec.decode(reply.body, Any, content_type))
        return self.codec.decode(reply.body, reply_type, content_type)

    async def notify(self, subject: str, body: Any = None, *, headers: dict[str, str] | None = None,
                     parent: Context | None = None, delay: float | None = None, at: datetime | None = None) -> str:
        """Notification: one instance of the endpoint's service handles it; no reply.

        ``delay`` (seconds) or ``at`` (an aware datetime): stored now, delivered then (ValueError
        for a negative delay, a past ``at``, or one beyond the broker's ``max_delay``).
        """
        due = due_time(delay, at, self.transport.max_delay)
        message = self._envelope(subject, body, parent, headers)
        await (self.out.send(message) if due is None else self._schedule(message, due, False, parent))
        return message.headers[h.MESSAGE_ID]

    async def send(self, subject: str, body: Any = None, *, reply_to: str, headers: dict[str, str] | None = None,
                   parent: Context | None = None, delay: float | None = None, at: datetime | None = None) -> str:
        """Request/async response: returns the correlation id; the reply is sent to the endpoint ``reply_to``.

        Each send gets a correlation id of its own (its message id), so several
        sends from one handler can be told apart when their replies come back.
        ``delay``/``at`` as for :meth:`notify`.
        """
        check_subject(reply_to)
        due = due_time(delay, at, self.transport.max_delay)
        message = self._envelope(subject, body, parent, headers)
        cid = message.headers[h.MESSAGE_ID]
        message.headers[h.CORRELATION_ID] = cid
        message.headers[h.REPLY_TO] = reply_to
        await (self.out.send(message) if due is None else self._schedule(message, due, False, parent))
        return cid

    async def publish(self, subject: str, body: Any = None, *, headers: dict[str, str] | None = None,
                      durable: bool = True, parent: Context | None = None, delay: float | None = None,
                      at: datetime | None = None) -> str:
        """Publish/subscribe: one copy per subscribing service (per instance for broadcast).

        ``delay``/``at`` as for :meth:`notify` (a delayed publish is durable).
        """
        due = None if delay is None and at is None else due_time(delay, at, self.transport.max_delay)
        if due is not None and not durable:
            raise ValueError("a delayed publish is stored, so it cannot be durable=False")
        message = self._envelope(subject, body, parent, headers)
        await (self.out.publish(message, durable=durable) if due is None
               else self._schedule(message, due, True, parent))
        return message.headers[h.MESSAGE_ID]

    def _schedule(self, message: Message, due: float, publish: bool, parent: Context | None) -> Awaitable[None]:
        message.headers[h.DUE] = f"{due:.3f}"
        if parent is not None and parent.traceparent:
            # no producer span is recorded for a delayed message: its receiver's span hangs off
            # the span the handler's own message came from, so that the trace has no hole
            message.headers[h.TRACEPARENT] = parent.traceparent
        return self.transport.schedule(message, due, publish=publish)

    async def gather(self, subject: str, body: Any = None, within: float = 1.0, max_replies: int | None = None,
                     *, reply_type: Any = Any, headers: dict[str, str] | None = None,
                     parent: Context | None = None) -> list[Reply]:
        """Publish/async responses: every reply that arrives within ``within`` seconds (or the first N)."""
        return [r async for r in self.scatter(subject, body, within, max_replies, reply_type=reply_type,
                                              headers=headers, parent=parent)]

    async def scatter(self, subject: str, body: Any = None, within: float = 1.0, max_replies: int | None = None,
                      *, reply_type: Any = Any, headers: dict[str, str] | None = None,
                      parent: Context | None = None) -> AsyncIterator[Reply]:
        """Like gather, yielding each reply as it arrives. A reply that cannot be decoded is skipped."""
        inbox = await self._open_inbox()
        message = self._envelope(subject, body, parent, headers)
        self._deadline(message.headers, within)
        message.headers[h.INBOX] = inbox
        key = message.headers[h.MESSAGE_ID]
        queue: asyncio.Queue[Message] = asyncio.Queue()
        self._gathers[key] = queue
        try:
            await self.out.publish(message, durable=False)
            loop = asyncio.get_running_loop()
            end = loop.time() + within
            count = 0
            while max_replies is None or count < max_replies:
                left = end - loop.time()
                if left <= 0:
                    break
                try:
                    reply = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    break
                try:
                    value = self._decode_reply(reply, reply_type)
                except (RemoteError, ValidationError) as exc:
                    log.warning("gather %s: skipped a reply from %s: %s", subject,
                                reply.headers.get(h.SENDER, "?"), exc)
                    continue
                count += 1
                yield Reply(value, reply.headers.get(h.SENDER, ""), reply.headers.get(h.INSTANCE, ""),
                            reply.headers)
        finally:
            del self._gathers[key]

    async def _open_inbox(self) -> str:
        if self._inbox is None:
            self._inbox = await self.transport.inbox(self._on_inbox)
        return self._inbox

    async def _on_inbox(self, message: Message) -> None:
        queue = self._gathers.get(message.headers.get(h.REPLY_OF, ""))
        if queue is not None:  # late replies to a finished gather are dropped
            queue.put_nowait(message)
