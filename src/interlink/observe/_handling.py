"""The incoming seam: one :class:`Watch` per handler of an instance, one :class:`Handling` per message.

The dispatcher runs each message inside ``with watch(message):`` and calls
:func:`note` where it decides how the handling ended (an error, a retry, a
dead letter, an invalid body); a handling that reaches the end without a note
ended ``ok``. The watch feeds the handler's stats (for the registry), its
span and its metrics, and makes the handling current for log lines.
"""

from __future__ import annotations

import contextvars
import time
from typing import TYPE_CHECKING, Any

from interlink import _headers as h

if TYPE_CHECKING:
    from interlink._registry import HandlerStats
    from interlink._service import HandlerSpec
    from interlink.observe._hooks import HandlerMetrics, HandlerTracing, SpanScope
    from interlink.transports.base import Message

_perf_ns = time.perf_counter_ns
_current: contextvars.ContextVar[Handling | None] = contextvars.ContextVar("interlink_handling", default=None)


class Watch:
    """Everything observed about one handler of one instance."""

    __slots__ = ("instance", "metrics", "service", "stats", "subject", "tracing")

    def __init__(self, service: str, instance: str, stats: HandlerStats, tracing: HandlerTracing,
                 metrics: HandlerMetrics) -> None:
        self.service = service
        self.instance = instance
        self.subject = stats.spec.subject
        self.stats = stats
        self.tracing = tracing
        self.metrics = metrics

    @classmethod
    def for_handler(cls, service: str, instance: str, spec: HandlerSpec, system: str) -> Watch:
        from interlink._registry import HandlerStats
        from interlink.observe._hooks import handler_metrics, handler_tracing

        return cls(service, instance, HandlerStats(spec), handler_tracing(service, instance, spec, system),
                   handler_metrics(service, spec))

    def __call__(self, message: Message) -> Handling:
        return Handling(self, message)


class Handling:
    """One message being handled: a context manager, current while it runs (see :func:`current`)."""

    __slots__ = ("_scope", "_start", "_token", "error", "message", "outcome", "watch")

    def __init__(self, watch: Watch, message: Message) -> None:
        self.watch = watch
        self.message = message
        self.outcome = "ok"
        self.error: str | None = None

    def __enter__(self) -> Handling:
        watch = self.watch
        watch.stats.in_flight += 1
        watch.metrics.started()
        self._scope: SpanScope = watch.tracing.start(self.message)
        self._token = _current.set(self)
        self._start = _perf_ns()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        elapsed = _perf_ns() - self._start
        _current.reset(self._token)
        watch = self.watch
        if exc is not None and self.outcome == "ok":  # cancelled, or a bug above the handler
            self.outcome, self.error = "error", f"{type(exc).__name__}: {exc}"
            self._scope.exception(exc)
        watch.stats.in_flight -= 1
        watch.stats.finished(self.outcome, elapsed, self.error)
        watch.metrics.finished(self.outcome, elapsed)
        self._scope.end(self.outcome)

    @property
    def message_id(self) -> str:
        return self.message.headers.get(h.MESSAGE_ID, "")

    @property
    def correlation_id(self) -> str:
        return self.message.headers.get(h.CORRELATION_ID, "")

    def trace_id(self) -> str:
        return self._scope.trace_id() or _trace_of(self.message.headers.get(h.TRACEPARENT, ""))


def _trace_of(traceparent: str) -> str:
    return traceparent[3:35] if len(traceparent) == 55 else ""


def system_of(transport: object) -> str:
    """The ``messaging.system`` of a transport: ``nats``, ``rabbitmq``, ``redis``, ``memory``."""
    name = type(transport).__name__.removesuffix("Transport").lower()
    return "rabbitmq" if name == "rabbit" else name


def current() -> Handling | None:
    """The handling running in this task (or this handler's worker thread), if any."""
    return _current.get()


def note(outcome: str, error: BaseException | None = None, reason: str | None = None) -> None:
    """How the current handling ends: ``error``, ``retried``, ``dead_lettered`` or ``invalid``.

    A later note wins over an earlier one (an error that is then retried is
    ``retried``). ``error`` is recorded on the span as an exception event;
    a retry or a dead letter adds a span event with ``reason`` (or the error). No-op outside a handling.
    """
    handling = _current.get()
    if handling is None:
        return
    handling.outcome = outcome
    if error is not None:
        handling.error = f"{type(error).__name__}: {error}"
        handling._scope.exception(error)
    if reason is not None:
        handling.error = handling.error or reason
    if outcome in ("retried", "dead_lettered"):
        handling._scope.event(outcome, reason or handling.error or "")
