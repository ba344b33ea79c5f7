"""Inbound side: one Dispatcher per handler of a served service instance.

It decodes the body by its declared type, runs the handler (on the loop, or in
a worker thread for plain ``def``), answers the way the message asks (request
reply, async reply to an endpoint, gather reply), and settles durable
deliveries: success acks; a failure is retried with backoff and jitter; after
the last attempt, or at once for a body that cannot be decoded, the message is
dead-lettered with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from interlink import _headers as h
from interlink import observe
from interlink._codec import JSON, MSGPACK, decoder_for
from interlink._context import Context
from interlink._errors import ConnectionLost, InterlinkError, RemoteError, ServiceError, ValidationError
from interlink._inbound import refusal
from interlink._killswitch import Switch
from interlink._ordering import KeyedTurns, key_getter
from interlink._retry import RetryRule
from interlink._service import HandlerSpec
from interlink.transports.base import Message, Receipt

if TYPE_CHECKING:
    from interlink._bus import Bus

log = logging.getLogger("interlink")

SEEN_IDS = 10_000  # per idempotent handler and instance, in process memory


class Dispatcher:
    def __init__(self, bus: Bus, service: str, instance: str, spec: HandlerSpec) -> None:
        self.bus = bus
        self.service = service
        self.instance = instance
        self.spec = spec
        self.seen: OrderedDict[str, None] | None = OrderedDict() if spec.delivery.idempotent else None
        self.retry = spec.delivery.retry
        self.switch: Switch | None = None  # set by Bus.serve for a handler with a kill switch
        order_by = spec.delivery.order_by
        self.key_of = key_getter(order_by) if order_by is not None else None
        self.turns = KeyedTurns()
        self.watch = observe.Watch.for_handler(service, instance, spec, observe.system_of(bus.transport))
        self._decoders: dict[str, Callable[[bytes], Any]] = {}  # the body's, per known content type
        #: ``_call(body, ctx)``: the handler's awaitable (a plain ``def`` runs in a worker thread)
        self._needs_ctx = spec.ctx_param is not None or spec.publish is not None or self.retry is not None
        self._call: Callable[[Any, Context], Awaitable[Any]] = self._run
        if spec.is_async:
            func = spec.func
            self._call = func if spec.ctx_param is not None else (lambda body, ctx: func(body))

    async def __call__(self, message: Message) -> None:
        with self.watch(message):  # the observe seam: stats, span, metrics, log context; see note()
            receipt = message.receipt
            headers = message.headers
            refused = message.defect or refusal(headers, self.service, message.subject)
            if refused is not None:
                await self._rejected(message, receipt, ValidationError(refused))
                return
            if self.seen is not None and self._seen_before(headers.get(h.MESSAGE_ID, "")):
                if receipt is not None:  # handled, or being handled (a failure there is retried)
                    await receipt.ack()
                return
            try:
                body = self._decode(message)
            except ValidationError as exc:
                await self._rejected(message, receipt, exc)
                return
            if self.key_of is None:
                await self._handle(message, body)
            else:
                await self._in_turn(message, body, self.key_of)

    def _decode(self, message: Message) -> Any:
        content_type = message.headers.get(h.CONTENT_TYPE) or JSON
        if h.ERROR in message.headers and message.reply_to is None:
            # an async reply that is an error: the reply endpoint receives the RemoteError as its body
            return RemoteError.from_wire(decoder_for(Any, content_type)(message.body))
        decode = self._decoders.get(content_type)
        if decode is None:
            decode = decoder_for(self.spec.body_type, content_type)
            if content_type in (JSON, MSGPACK):
                self._decoders[content_type] = decode
        return decode(message.body)

    def _seen_before(self, message_id: str) -> bool:
        """An idempotent handler's check: True for an id handled (or being handled) here; else remembered."""
        if self.seen is None or not message_id:
            return False
        if message_id in self.seen:
            return True
        self._remember(message_id)
        return False

    async def _in_turn(self, message: Message, body: Any, key_of: Callable[[Any], Any]) -> None:
        """Handled after the messages of the same ``order_by`` key delivered before it."""
        try:
            key = key_of(body)
        except Exception as exc:  # the user's key function: the body does not fit it
            await self._rejected(message, message.receipt,
                                 ValidationError(f"order_by key: {type(exc).__name__}: {exc}"))
            return
        turn = self.turns.take(key)  # taken before any await: the order of delivery
        try:
            await self.turns.wait(turn)
            await self._handle(message, body)
        finally:
            self.turns.release(key, turn)

    async def _handle(self, message: Message, body: Any) -> None:
        receipt = message.receipt
        headers = message.headers
        # made only for a handler that takes it or a step that needs it (publishing the result, a retry's log)
        ctx = Context(self.bus, self.service, self.instance, message.subject, headers, message.attempt) \
            if self._needs_ctx else _NO_CONTEXT
        keepalive = _KeepAlive(self.bus, receipt, self.spec.delivery.ack_wait / 2) if receipt is not None else None
        try:
            if self.retry is None or message.reply_to is not None:
                result = await self._call(body, ctx)
            else:
                result = await self._run_retrying(body, ctx)
            if self.spec.publish is not None and result is not None:  # before the ack: at least once
                await self.bus.publish(self.spec.publish, result, parent=ctx)
        except ServiceError as exc:
            self._forget(headers)
            observe.note("error", exc)
            await self._failed(message, receipt, RemoteError(exc.code, exc.message, self.service, exc.details),
                               retry=False, rule=self.retry.rule_for(exc) if self.retry else None)
        except RemoteError as exc:  # a nested call failed: answer with its code, not as a crash of ours
            self._forget(headers)
            observe.note("error", exc)
            log.warning("%s: handler %s on %s answered %s: %s (from %s)", self.service, self.spec.name,
                        message.subject, exc.code, exc.message, " -> ".join(exc.path) or "?")
            await self._failed(message, receipt, exc.crossed(self.service), retry=exc.code == "internal",
                               rule=self.retry.rule_for(exc) if self.retry else None)
        except Exception as exc:
            self._forget(headers)
            observe.note("error", exc)
            if self.switch is not None:
                self.switch.record(True)
            log.exception("%s: handler %s failed on %s (attempt %d)", self.service, self.spec.name,
                          message.subject, message.attempt)
            await self._failed(message, receipt, RemoteError("internal", "internal error", self.service), retry=True,
                               reason=f"{type(exc).__name__}: {exc}",
                               rule=self.retry.rule_for(exc) if self.retry else None)
        else:
            if self.switch is not None:
                self.switch.record(False)
            answer = self._answer(message, result)
            if answer is not None:  # awaited here rather than through _guarded: one coroutine less a message
                try:
                    await answer
                except ConnectionLost:
                    raise
                except Exception as exc:
                    self._unanswered(message, exc)
            if receipt is not None:
                await receipt.ack()
        finally:
            if keepalive is not None:
                keepalive.cancel()

    async def _run(self, body: Any, ctx: Context) -> Any:
        spec = self.spec
        if spec.is_async:
            if spec.ctx_param is None:
                return await spec.func(body)
            return await spec.func(body, ctx)
        args = (body,) if spec.ctx_param is None else (body, ctx)
        return await asyncio.to_thread(spec.func, *args)

    async def _run_retrying(self, body: Any, ctx: Context) -> Any:
        """The handler, run again at once as often as the retry rule for its error allows."""
        immediate = 0
        while True:
            try:
                return await self._call(body, ctx)
            except Exception as exc:
                rule = self.retry.rule_for(exc) if self.retry is not None else None
                if rule is None or immediate >= rule.immediate:
                    raise
                immediate += 1
                log.warning("%s: handler %s failed on %s (%s: %s); immediate retry %d of %d", self.service,
                            self.spec.name, ctx.subject, type(exc).__name__, exc, immediate, rule.immediate)

    def _forget(self, headers: dict[str, str]) -> None:
        """A failed handling's id is forgotten, so that its redelivery is handled again."""
        if self.seen is not None:
            self.seen.pop(headers.get(h.MESSAGE_ID, ""), None)

    def _remember(self, message_id: str) -> None:
        """Handled ids of an idempotent handler: the newest SEEN_IDS, in this process only."""
        seen = self.seen
        if seen is not None:
            seen[message_id] = None
            if len(seen) > SEEN_IDS:
                seen.popitem(last=False)

    def _answer(self, message: Message, result: Any) -> Coroutine[Any, Any, None] | None:
        """Sending the answer ``message`` asks for (a reply, an async reply, a gather's), or None."""
        headers = message.headers
        if message.reply_to is not None:
            return self.bus.transport.reply(message.reply_to, self._reply_message(message, result))
        if h.REPLY_TO in headers:
            reply = self._reply_message(message, result)
            reply.subject = headers[h.REPLY_TO]
            return self.bus.transport.send(reply)
        if h.INBOX in headers and result is not None:
            return self.bus.transport.reply(headers[h.INBOX], self._reply_message(message, result))
        return None

    def _reply_message(self, message: Message, result: Any, error: RemoteError | None = None) -> Message:
        incoming = message.headers
        headers = {
            h.MESSAGE_ID: h.new_id(),
            h.VERSION: h.PROTOCOL_TEXT,
            h.CORRELATION_ID: incoming.get(h.CORRELATION_ID, ""),
            h.SENDER: self.service,
            h.INSTANCE: self.instance,
            h.CONTENT_TYPE: self.bus.codec.content_type,
        }
        if h.MESSAGE_ID in incoming:
            headers[h.REPLY_OF] = incoming[h.MESSAGE_ID]
        if h.TRACEPARENT in incoming:
            headers[h.TRACEPARENT] = incoming[h.TRACEPARENT]
        if error is not None:
            headers[h.ERROR] = error.code
            body = self.bus.codec.encode(error.to_wire())
        else:
            try:
                body = self.bus.codec.encode(result)
            except ValidationError as exc:
                log.error("%s: handler %s returned a body that cannot be encoded: %s",
                          self.service, self.spec.name, exc)
                headers[h.ERROR] = "internal"
                body = self.bus.codec.encode(RemoteError("internal", "reply cannot be encoded", self.service)
                                             .to_wire())
        return Message(message.subject, body, headers)

    async def _rejected(self, message: Message, receipt: Receipt | None, exc: ValidationError) -> None:
        """A body that cannot be decoded or validated: answered or dead-lettered at once, never retried."""
        log.warning("%s: rejected message on %s: %s", self.service, message.subject, exc)
        observe.note("invalid", exc)
        error = RemoteError("invalid", str(exc), self.service)
        await self._failed(message, receipt, error, retry=False, reason=str(exc))

    async def _failed(self, message: Message, receipt: Receipt | None, error: RemoteError, *, retry: bool,
                      reason: str | None = None, rule: RetryRule | None = None) -> None:
        headers = message.headers
        transport = self.bus.transport
        if message.reply_to is not None:  # a request: the caller gets the error, no retry
            await self._guarded(transport.reply(message.reply_to, self._reply_message(message, None, error)), message)
            return
        if receipt is None:
            if h.INBOX in headers:
                await self._guarded(transport.reply(headers[h.INBOX], self._reply_message(message, None, error)),
                                    message)
            elif not retry:  # a live delivery refused: kept with its reason, as a durable one would be
                await self.dead_letter(message, reason or f"{error.code}: {error.message}")
            return
        if rule is not None:  # the handler's retry policy decides
            if message.attempt <= rule.delayed:
                observe.note("retried")
                await receipt.nack(rule.delay(message.attempt))
                return
        elif retry and message.attempt < self.spec.delivery.max_attempts:
            observe.note("retried")
            await receipt.nack(self._backoff(message.attempt))
            return
        reply = self._reply_message(message, None, error)
        reply.subject = headers.get(h.REPLY_TO, "")
        if retry or not reply.subject or not await self._guarded(transport.send(reply), message):
            await self.dead_letter(message, reason or f"{error.code}: {error.message}", error)
        await receipt.ack()

    async def _guarded(self, answer: Coroutine[Any, Any, None], message: Message) -> bool:
        """Await an answer to ``message``; one that cannot go out (a reply address that is not one, say)
        is logged and False returned. A lost connection is raised: the message stays unsettled."""
        try:
            await answer
        except ConnectionLost:
            raise
        except Exception as exc:
            self._unanswered(message, exc)
            return False
        return True

    def _unanswered(self, message: Message, exc: Exception) -> None:
        log.warning("%s: could not answer the message on %s: %s", self.service, message.subject, exc)

    def _backoff(self, attempt: int) -> float:
        d = self.spec.delivery
        delay: float = min(d.max_backoff, d.backoff * 2.0 ** (attempt - 1))
        return delay * random.uniform(0.5, 1.0)

    async def dead_letter(self, message: Message, reason: str, error: RemoteError | None = None) -> None:
        """Keep ``message`` with ``reason``; one without an ``il-id`` gets one, so that it can be replayed.

        A dead letter the broker refuses even after the transport cut it to fit is logged and
        given up (the original is settled all the same); a lost connection is raised, so the
        original stays unsettled and comes back.
        """
        headers = dict(message.headers)
        headers.setdefault(h.MESSAGE_ID, h.new_id())
        headers[h.DEAD_AT] = f"{time.time():.3f}"
        if error is not None:
            headers[h.DEAD_CODE] = error.code
            headers[h.DEAD_ERROR_SERVICE] = error.service
            headers[h.DEAD_ERROR_PATH] = ",".join(error.path)
        headers[h.DEAD_SUBJECT] = message.subject
        headers[h.DEAD_REASON] = reason[:1000]
        headers[h.DEAD_ATTEMPTS] = str(message.attempt)
        headers[h.DEAD_SERVICE] = self.service
        headers[h.DEAD_KIND] = self.spec.kind
        observe.note("dead_lettered", reason=reason)
        log.error("%s: dead-lettered message %s on %s after %d attempt(s): %s", self.service,
                  headers[h.MESSAGE_ID], message.subject, message.attempt, reason[:1000])
        try:
            await self.bus.transport.dead_letter(Message(message.subject, message.body, headers))
        except ConnectionLost:
            raise
        except InterlinkError as exc:
            log.error("%s: the dead letter of %s could not be stored: %s", self.service, headers[h.MESSAGE_ID], exc)


_NO_CONTEXT: Any = None  # what a handler that takes no ``ctx`` is passed in its place (never read)


class _KeepAlive:
    """Tells the broker a long handler is still working, every ``every`` seconds."""

    __slots__ = ("_bus", "_every", "_handle", "_receipt")

    def __init__(self, bus: Bus, receipt: Receipt, every: float) -> None:
        self._bus = bus
        self._receipt = receipt
        self._every = every
        self._handle = asyncio.get_running_loop().call_later(every, self._tick)

    def _tick(self) -> None:
        self._bus.spawn(self._receipt.working())
        self._handle = asyncio.get_running_loop().call_later(self._every, self._tick)

    def cancel(self) -> None:
        self._handle.cancel()
