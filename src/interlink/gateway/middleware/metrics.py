"""Prometheus metrics of the gateway (served at ``/metrics``), in a registry of its own.

    interlink_gateway_requests_total{route,method,status}
    interlink_gateway_request_duration_seconds{route}      histogram
    interlink_gateway_in_flight                            requests being answered now
    interlink_gateway_errors_total{route,status}           answers with status >= 500
    interlink_gateway_breaker_state{route}                 0 closed, 1 half-open, 2 open
    interlink_gateway_breaker_opened_total{route}
    interlink_gateway_outstanding{route}                   calls a route's bulkhead counts now

Labels name routes, never subjects; unmatched requests count under ``route="-"``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlink._resilience import Breaker, Policies
from interlink.gateway._router import options_of

_STATE = {"closed": 0, "half_open": 1, "open": 2}
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """The gateway's metrics; ``targets`` gives (route name, subject, breaker settings, bulkhead size)."""

    def __init__(self, policies: Callable[[], Policies | None],
                 targets: list[tuple[str, str, Breaker | None, int | None]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("interlink_gateway_requests", "HTTP requests answered",
                                ["route", "method", "status"], registry=r)
        self.duration = Histogram("interlink_gateway_request_duration_seconds", "Time to answer",
                                  ["route"], buckets=BUCKETS, registry=r)
        self.in_flight = Gauge("interlink_gateway_in_flight", "Requests being answered", registry=r)
        self.errors = Counter("interlink_gateway_errors", "Answers with a 5xx status", ["route", "status"],
                              registry=r)
        self._policies = policies
        self._targets = targets
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}  # label lookups, once per label set
        r.register(self)  # a custom collector: collect() below

    def collect(self) -> Iterator[Any]:
        """Breaker and bulkhead state, read from the bus's policies when scraped."""
        state = GaugeMetricFamily("interlink_gateway_breaker_state", "0 closed, 1 half-open, 2 open",
                                  labels=["route"])
        opened = GaugeMetricFamily("interlink_gateway_breaker_opened_total", "Times the breaker opened",
                                   labels=["route"])
        outstanding = GaugeMetricFamily("interlink_gateway_outstanding", "Calls outstanding to the target",
                                        labels=["route"])
        policies = self._policies() or Policies()  # no call made yet: every breaker closed, nothing out
        for route, subject, breaker, limit in self._targets:
            if breaker is not None:
                found = policies.breaker(subject, breaker)
                state.add_metric([route], _STATE[found.state])
                opened.add_metric([route], found.opened)
            if limit is not None:
                outstanding.add_metric([route], policies.bulkhead(subject, limit).in_flight)
        yield state
        yield opened
        yield outstanding

    def describe(self) -> list[Any]:
        return []

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(route, method, str(status)),
                                              self.duration.labels(route))
        children[0].inc()
        children[1].observe(seconds)
        if status >= 500:
            self.errors.labels(route, str(status)).inc()


class Metrics:
    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        m = self.metrics
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        m.in_flight.inc()
        try:
            await self.app(scope, receive, sending)
        finally:
            m.in_flight.dec()
            options = options_of(scope)
            m.observe(options.name if options else "-", scope["method"], status, time.perf_counter() - start)
