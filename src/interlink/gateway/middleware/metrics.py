"""Prometheus metrics of the gateway (served at ``/metrics``), in a registry of its own.

    interlink_gateway_requests_total{route,method,status}
    interlink_gateway_request_duration_seconds{route}      histogram
    interlink_gateway_in_flight                            requests being answered now
    interlink_gateway_errors_total{route,status}           answers with status >= 500
    interlink_gateway_breaker_state{route}                 0 closed, 1 half-open, 2 open
    interlink_gateway_breaker_opened_total{route}
    interlink_gateway_outstanding{route}                   calls a route's bulkhead counts now

Labels name routes, never subjects; unmatched requests count under ``route="-"``.
Requests are counted in plain integers and turned into metric families only when
``/metrics`` is scraped: prometheus_client's own counters take a lock and walk the
buckets on every observation, which was a tenth of the gateway's own time per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from interlink._resilience import Breaker, Policies
from interlink.observe._metrics import Histogram

_STATE = {"closed": 0, "half_open": 1, "open": 2}
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """The gateway's metrics; ``targets`` gives (route name, subject, breaker settings, bulkhead size)."""

    def __init__(self, policies: Callable[[], Policies | None],
                 targets: list[tuple[str, str, Breaker | None, int | None]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.in_flight = 0
        self._requests: dict[tuple[str, str, int], int] = {}
        self._durations: dict[str, Histogram] = {}
        self._errors: dict[tuple[str, int], int] = {}
        self._policies = policies
        self._targets = targets
        self.registry.register(self)  # a custom collector: collect() below

    def collect(self) -> Iterator[Any]:
        """Every family, built from the counts when scraped."""
        requests = CounterMetricFamily("interlink_gateway_requests", "HTTP requests answered",
                                       labels=["route", "method", "status"])
        for (route, method, status), count in list(self._requests.items()):
            requests.add_metric([route, method, str(status)], count)
        duration = HistogramMetricFamily("interlink_gateway_request_duration_seconds", "Time to answer",
                                         labels=["route"])
        for route, histogram in list(self._durations.items()):
            duration.add_metric([route], histogram.cumulative(), histogram.total)
        errors = CounterMetricFamily("interlink_gateway_errors", "Answers with a 5xx status",
                                     labels=["route", "status"])
        for (route, status), count in list(self._errors.items()):
            errors.add_metric([route, str(status)], count)
        yield requests
        yield duration
        yield GaugeMetricFamily("interlink_gateway_in_flight", "Requests being answered", value=self.in_flight)
        yield errors
        yield from self._policy_families()

    def _policy_families(self) -> Iterator[Any]:
        """Breaker and bulkhead state, read from the bus's policies."""
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
        self._requests[key] = self._requests.get(key, 0) + 1
        histogram = self._durations.get(route)
        if histogram is None:
            histogram = self._durations[route] = Histogram(BUCKETS)
        histogram.observe(seconds)
        if status >= 500:
            self._errors[route, status] = self._errors.get((route, status), 0) + 1
