"""Choosing the hooks once: real ones when their library is there (and, for metrics, asked for), else no-ops.

``opentelemetry-api`` is looked for with ``importlib.util.find_spec`` and only
imported when present; ``INTERLINK_TRACING=off`` switches tracing off even then.
Metrics are off until :func:`enable_metrics` (``interlink run --metrics`` and the
gateway call it) and need ``prometheus-client``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from interlink._service import HandlerSpec
    from interlink.transports.base import Message, Transport


class SpanScope(Protocol):
    """The span of one handling (or a constant no-op)."""

    def exception(self, exc: BaseException) -> None: ...
    def event(self, name: str, reason: str) -> None: ...
    def end(self, outcome: str) -> None: ...
    def trace_id(self) -> str: ...


class HandlerTracing(Protocol):
    def start(self, message: Message) -> SpanScope: ...


class HandlerMetrics(Protocol):
    def started(self) -> None: ...
    def finished(self, outcome: str, elapsed_ns: int) -> None: ...


class _NoScope:
    __slots__ = ()

    def exception(self, exc: BaseException) -> None:
        pass

    def event(self, name: str, reason: str) -> None:
        pass

    def end(self, outcome: str) -> None:
        pass

    def trace_id(self) -> str:
        return ""


NO_SCOPE = _NoScope()


class _NoTracing:
    __slots__ = ()

    def start(self, message: Message) -> SpanScope:
        return NO_SCOPE


class _NoMetrics:
    __slots__ = ()

    def started(self) -> None:
        pass

    def finished(self, outcome: str, elapsed_ns: int) -> None:
        pass


NO_TRACING = _NoTracing()
NO_METRICS = _NoMetrics()


def tracing_enabled() -> bool:
    """Whether spans are made: opentelemetry-api is installed and INTERLINK_TRACING is not ``off``."""
    if os.environ.get("INTERLINK_TRACING", "").lower() in ("off", "0", "false", "no"):
        return False
    try:
        return importlib.util.find_spec("opentelemetry") is not None and \
            importlib.util.find_spec("opentelemetry.trace") is not None
    except (ImportError, ValueError):  # a broken or half-installed package counts as absent
        return False


_TRACING = tracing_enabled()


def use_tracer_provider(provider: object | None) -> None:
    """Send interlink's spans to ``provider`` (an OpenTelemetry TracerProvider) rather than the global
    one; None goes back to the global one. Raises RuntimeError when tracing is off (no opentelemetry-api)."""
    if not _TRACING:
        raise RuntimeError("tracing is off: opentelemetry-api is not installed (or INTERLINK_TRACING=off)")
    from interlink.observe import _tracing

    _tracing.use_tracer_provider(provider)  # type: ignore[arg-type]
_metrics_registry: CollectorRegistry | None = None


def enable_metrics(registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """Count handlings and requests from now on (buses created later), into ``registry``
    (prometheus_client's default one when None). Returns the registry; idempotent."""
    global _metrics_registry
    if _metrics_registry is None:
        from interlink.observe import _metrics

        _metrics_registry = _metrics.install(registry)
    return _metrics_registry


def metrics_registry() -> CollectorRegistry | None:
    """The registry bus metrics go to, or None when metrics are off."""
    return _metrics_registry


def handler_tracing(service: str, instance: str, spec: HandlerSpec, system: str) -> HandlerTracing:
    if not _TRACING:
        return NO_TRACING
    from interlink.observe import _tracing

    return _tracing.HandlerSpans(service, instance, spec, system)


def handler_metrics(service: str, spec: HandlerSpec) -> HandlerMetrics:
    if _metrics_registry is None:
        return NO_METRICS
    from interlink.observe import _metrics

    return _metrics.handler_counters(service, spec)


class Outgoing(Protocol):
    """What the bus sends through: the transport, or layers around it (spans, metrics)."""

    def request(self, message: Message, timeout: float) -> Coroutine[Any, Any, Message]: ...
    def send(self, message: Message) -> Coroutine[Any, Any, None]: ...
    def publish(self, message: Message, *, durable: bool = True) -> Coroutine[Any, Any, None]: ...


def outgoing(transport: Transport, sender: str, system: str) -> Outgoing:
    """The transport the bus sends through: wrapped in spans and/or metrics when those are on."""
    out: Outgoing = transport
    if _TRACING:
        from interlink.observe import _tracing

        out = _tracing.TracedTransport(out, system)
    if _metrics_registry is not None:
        from interlink.observe import _metrics

        out = _metrics.CountedTransport(out, sender)
    return out
