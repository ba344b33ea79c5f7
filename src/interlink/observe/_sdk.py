"""Setting up the OpenTelemetry SDK from the standard ``OTEL_*`` variables, for ``interlink run``,
``interlink gateway`` and ``interlink demo``.

Nothing happens unless the SDK (``opentelemetry-sdk``) is installed *and* one of
``OTEL_TRACES_EXPORTER``, ``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_SERVICE_NAME`` is set (so
that a machine with the SDK but no collector is not flooded with export
errors), or when ``OTEL_SDK_DISABLED=true``. Exporters, as in the
specification: ``otlp`` (the default; ``http/protobuf`` unless
``OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL=grpc``, which needs
``opentelemetry-exporter-otlp-proto-grpc``), ``console``, ``none``; the
exporters read their own endpoint, headers and timeout variables, and the
sampler follows ``OTEL_TRACES_SAMPLER``. ``service.name`` is
``OTEL_SERVICE_NAME``, else the name the command passes (the App's name).
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("interlink")

_TRIGGERS = ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
             "OTEL_SERVICE_NAME")


def configure_from_env(default_name: str) -> Any | None:
    """Install a global TracerProvider as the variables say; return it (None: nothing was set up)."""
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true" or not any(env.get(k) for k in _TRIGGERS):
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return None
    exporters = [_exporter(name.strip()) for name in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",")]
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or default_name})
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def _exporter(name: str) -> Any | None:
    if name in ("", "none"):
        return None
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        log.warning("OTEL_TRACES_EXPORTER=%s is not supported by interlink (otlp, console, none); ignored", name)
        return None
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        log.warning("OTLP trace exporter (%s) is not installed: %s; no spans are exported", protocol, exc)
        return None
    return OTLPSpanExporter()


def shutdown(provider: Any | None) -> None:
    """Export what is left and stop (at the end of a command)."""
    if provider is not None:
        provider.shutdown()
