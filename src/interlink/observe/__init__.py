"""Observability hooks: tracing (OpenTelemetry), metrics (Prometheus), structured logs, handler stats.

Two seams, one each way:

* incoming — :class:`~interlink.observe._handling.Watch`: the dispatcher wraps every
  handling in ``with self.watch(message):`` and reports how it ended with
  :func:`note`. Handler stats (the registry's) are always kept; spans exist when
  ``opentelemetry-api`` is installed; metrics when they were switched on
  (:func:`interlink.observe.enable_metrics`).
* outgoing — :func:`outgoing`: the bus sends through it; it wraps the transport
  in a tracing layer when ``opentelemetry-api`` is installed, and is the
  transport itself otherwise.

Without the optional libraries nothing of them is imported and each hook is a
constant no-op object chosen once, not a test per message.
"""

from interlink.observe._backlog import backlog_sampler
from interlink.observe._handling import Watch, current, note, system_of
from interlink.observe._hooks import (
    enable_metrics,
    metrics_registry,
    outgoing,
    tracing_enabled,
    use_tracer_provider,
)
from interlink.observe._logs import JsonFormatter

__all__ = [
    "JsonFormatter",
    "Watch",
    "backlog_sampler",
    "current",
    "enable_metrics",
    "metrics_registry",
    "note",
    "outgoing",
    "system_of",
    "tracing_enabled",
    "use_tracer_provider",
]
