"""Spans for OpenTelemetry (imported only when opentelemetry-api is installed).

Layout: a CLIENT span per request (``send <subject>``) and a PRODUCER span
per notify/send/publish/gather (``publish <subject>``), made by the bus; a
SERVER span per handled request and a CONSUMER span per other handling
(``process <subject pattern>``), made by the dispatcher, its parent read from
the message's ``traceparent``. A handler's own requests and publishes are
children of its span, so one trace follows a message across every service; a
gather's answers are the CONSUMER spans of the subscribers, children of the
gather's PRODUCER span. Attributes follow the OpenTelemetry messaging
conventions (``messaging.system``, ``messaging.destination.name``,
``messaging.destination.template``, ``messaging.operation.type``,
``messaging.operation.name``, ``messaging.message.id``,
``messaging.message.conversation_id``, ``messaging.consumer.group.name``),
plus ``interlink.service``, ``interlink.instance``, ``interlink.attempt`` (the
delivery attempt: > 1 on a retried message) and ``interlink.outcome``.
Errors set the span status to ERROR with an exception event; a retry or a
dead-lettering adds an event (``retried``, ``dead_lettered``) with the reason.

Until a real tracer provider is installed (an SDK: ``opentelemetry-sdk``),
no span is made at all: the hooks look at the global provider once per
message and step aside while it is the API's proxy or no-op provider.
"""

from __future__ import annotations

import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from interlink import _headers as h
from interlink.observe._hooks import NO_SCOPE

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from interlink._service import HandlerSpec
    from interlink.observe._hooks import Outgoing, SpanScope
    from interlink.transports.base import Message

_NOT_SDK = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
_tracer: Tracer | None = None
_provider: TracerProvider | None = None
_absent_until = 0.0
_monotonic = time.monotonic


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Report interlink's spans to ``provider`` instead of the global one (None: the global one again)."""
    global _tracer, _provider, _absent_until
    _provider, _tracer, _absent_until = provider, None, 0.0


def tracer() -> Tracer | None:
    """interlink's tracer from the chosen or global provider, or None while no real provider is installed.

    "None" is looked up again at most once a second (asking the API costs an environment lookup
    per call): spans start within a second of an SDK provider being set globally.
    """
    global _tracer, _absent_until
    if _tracer is None:
        if _provider is None and _monotonic() < _absent_until:
            return None
        provider = _provider or trace.get_tracer_provider()
        if isinstance(provider, _NOT_SDK):
            _absent_until = _monotonic() + 1.0
            return None
        from interlink import __version__

        _tracer = provider.get_tracer("interlink", __version__)
    return _tracer


def parent_of(traceparent: str | None) -> otel_context.Context | None:
    """The context a W3C ``traceparent`` names (None when absent or malformed)."""
    if not traceparent or len(traceparent) != 55 or traceparent[2] != "-" or traceparent[35] != "-":
        return None
    try:
        trace_id, span_id, flags = int(traceparent[3:35], 16), int(traceparent[36:52], 16), int(traceparent[53:], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    remote = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags & 1))
    return trace.set_span_in_context(NonRecordingSpan(remote))


def traceparent_of(span: Span) -> str:
    c = span.get_span_context()
    return f"00-{c.trace_id:032x}-{c.span_id:016x}-{int(c.trace_flags):02x}"


class _Scope:
    """The span of one handling, current (attached) while the handler runs."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: Span, token: object) -> None:
        self._span = span
        self._token = token

    def exception(self, exc: BaseException) -> None:
        self._span.record_exception(exc)
        self._span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:200]))

    def event(self, name: str, reason: str) -> None:
        self._span.add_event(name, {"interlink.reason": reason[:1000]})

    def end(self, outcome: str) -> None:
        span = self._span
        span.set_attribute("interlink.outcome", outcome)
        if outcome != "ok":
            span.set_status(Status(StatusCode.ERROR, outcome))
        otel_context.detach(self._token)  # type: ignore[arg-type]
        span.end()

    def trace_id(self) -> str:
        return f"{self._span.get_span_context().trace_id:032x}"


class HandlerSpans:
    """The incoming hook of one handler: a SERVER or CONSUMER span per handling."""

    __slots__ = ("_attributes", "_name")

    def __init__(self, service: str, instance: str, spec: HandlerSpec, system: str) -> None:
        self._name = f"process {spec.subject}"
        self._attributes: dict[str, Any] = {
            "messaging.system": system, "messaging.destination.template": spec.subject,
            "messaging.operation.type": "process", "messaging.operation.name": "process",
            "interlink.service": service, "interlink.instance": instance, "interlink.handler": spec.name,
        }
        if not spec.broadcast:
            self._attributes["messaging.consumer.group.name"] = service

    def start(self, message: Message) -> SpanScope:
        t = _tracer or tracer()
        if t is None:
            return NO_SCOPE
        headers = message.headers
        parent = parent_of(headers.get(h.TRACEPARENT))
        attributes = {**self._attributes, "messaging.destination.name": message.subject,
                      "messaging.message.id": headers.get(h.MESSAGE_ID, ""),
                      "messaging.message.conversation_id": headers.get(h.CORRELATION_ID, ""),
                      "messaging.message.body.size": len(message.body), "interlink.attempt": message.attempt}
        kind = SpanKind.SERVER if message.reply_to is not None else SpanKind.CONSUMER
        span = t.start_span(self._name, context=parent or otel_context.Context(), kind=kind, attributes=attributes)
        return _Scope(span, otel_context.attach(trace.set_span_in_context(span)))


class TracedTransport:
    """The outgoing hook: a CLIENT span per request, a PRODUCER span per other message, its
    ``traceparent`` written into the message so that the receiver's span is its child."""

    def __init__(self, inner: Outgoing, system: str) -> None:
        self._inner = inner
        self._system = system

    def _start(self, message: Message, style: str, kind: SpanKind) -> Span | None:
        t = _tracer or tracer()
        if t is None:
            return None
        headers = message.headers
        verb = "send" if kind is SpanKind.CLIENT else "publish"
        span = t.start_span(f"{verb} {message.subject}", kind=kind, attributes={
            "messaging.system": self._system, "messaging.destination.name": message.subject,
            "messaging.operation.type": "send", "messaging.operation.name": style,
            "messaging.message.id": headers.get(h.MESSAGE_ID, ""),
            "messaging.message.conversation_id": headers.get(h.CORRELATION_ID, ""),
            "messaging.message.body.size": len(message.body),
        })
        headers[h.TRACEPARENT] = traceparent_of(span)
        return span

    def request(self, message: Message, timeout: float) -> Coroutine[Any, Any, Message]:
        if (_tracer or tracer()) is None:  # the transport's own coroutine: no layer of ours to await
            return self._inner.request(message, timeout)
        return self._traced_request(message, timeout)

    async def _traced_request(self, message: Message, timeout: float) -> Message:
        span = self._start(message, "request", SpanKind.CLIENT)
        if span is None:
            return await self._inner.request(message, timeout)
        try:
            reply = await self._inner.request(message, timeout)
        except BaseException as exc:
            failed(span, exc)
            raise
        else:
            if h.ERROR in reply.headers:
                span.set_status(Status(StatusCode.ERROR, f"remote error {reply.headers[h.ERROR]}"))
                span.set_attribute("error.type", reply.headers[h.ERROR])
            return reply
        finally:
            span.end()

    def send(self, message: Message) -> Coroutine[Any, Any, None]:
        if (_tracer or tracer()) is None:  # the transport's own coroutine: no layer of ours to await
            return self._inner.send(message)
        span = self._start(message, "send" if h.REPLY_TO in message.headers else "notify", SpanKind.PRODUCER)
        return self._produced(span, self._inner.send(message))

    def publish(self, message: Message, *, durable: bool = True) -> Coroutine[Any, Any, None]:
        if (_tracer or tracer()) is None:
            return self._inner.publish(message, durable=durable)
        span = self._start(message, "gather" if h.INBOX in message.headers else "publish", SpanKind.PRODUCER)
        return self._produced(span, self._inner.publish(message, durable=durable))

    @staticmethod
    async def _produced(span: Span | None, sending: Any) -> None:
        if span is None:
            await sending
            return
        try:
            await sending
        except BaseException as exc:
            failed(span, exc)
            raise
        finally:
            span.end()


def failed(span: Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:200]))
    span.set_attribute("error.type", type(exc).__name__)
