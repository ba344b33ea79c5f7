"""What ``interlink run``, ``gateway`` and ``demo`` set up around a command: logs, traces, metrics.

``--log-format json`` writes one JSON object per line (see :mod:`interlink.observe._logs`).
Traces: when the OpenTelemetry SDK is installed and ``OTEL_*`` variables ask for it
(see :mod:`interlink.observe._sdk`). ``--metrics HOST:PORT`` serves Prometheus metrics
of the bus there (``/metrics``); the gateway's own ``/metrics`` shows them too.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from interlink.cli._common import USAGE, errors


def add_options(p: argparse.ArgumentParser, *, metrics: bool = True) -> None:
    p.add_argument("--log-format", choices=("text", "json"), default="text",
                   help="log lines as text or as one JSON object each (with service, ids, trace id)")
    if metrics:
        p.add_argument("--metrics", default=None, metavar="HOST:PORT",
                       help="serve Prometheus metrics of the bus on HOST:PORT/metrics")


class Telemetry:
    """Set up before the command runs; ``close()`` exports the spans left."""

    def __init__(self, args: argparse.Namespace) -> None:
        from interlink.observe import _logs, _sdk

        _logs.configure(getattr(args, "log_format", "text"), logging.DEBUG if args.verbose else logging.WARNING)
        self._provider: Any = None
        if args.command in ("run", "gateway", "demo"):
            self._provider = _sdk.configure_from_env(_service_name(args))
        address = getattr(args, "metrics", None)
        if address:
            _serve_metrics(address)
        elif args.command == "gateway" or (args.command == "run" and getattr(args, "http", None) != "off"):
            _enable_quietly()  # the gateway's /metrics shows the bus too

    def close(self) -> None:
        from interlink.observe import _sdk

        _sdk.shutdown(self._provider)


def _service_name(args: argparse.Namespace) -> str:
    target = getattr(args, "target", None)
    if target:
        name = str(target).rpartition(":")[2] or "interlink"
        return f"{name}.{args.only}" if getattr(args, "only", "") else name
    return "interlink-gateway" if args.command == "gateway" else "interlink"


def _enable_quietly() -> None:
    try:
        from interlink.observe import enable_metrics

        enable_metrics()
    except ImportError:  # prometheus-client is not installed: the gateway has its own metrics only
        pass


def _serve_metrics(address: str) -> None:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        errors.print(f"[bold red]error:[/] --metrics takes HOST:PORT, got {address!r}")
        raise SystemExit(USAGE)
    try:
        from prometheus_client import start_http_server

        from interlink.observe import enable_metrics
    except ImportError as exc:
        errors.print(f"[bold red]error:[/] --metrics needs prometheus-client ({exc}): pip install interlink[metrics]")
        raise SystemExit(USAGE) from None
    registry = enable_metrics()
    try:
        start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=registry)
    except OSError as exc:
        errors.print(f"[bold red]error:[/] --metrics {address}: {exc}")
        raise SystemExit(USAGE) from None
