"""Prometheus metrics of the bus (prometheus-client), switched on by :func:`interlink.observe.enable_metrics`.

======================================  =========  ===============================================
name                                    type       labels
======================================  =========  ===============================================
interlink_handled_total                 counter    service, handler, subject, outcome
interlink_handler_duration_seconds      histogram  service, handler, subject
interlink_handler_in_flight             gauge      service, handler, subject
interlink_requests_total                counter    service, subject, outcome
interlink_request_duration_seconds      histogram  service, subject
interlink_sent_total                    counter    service, style
interlink_consumer_backlog              gauge      service, subject, transport
======================================  =========  ===============================================

``outcome`` of a handling: ok, error, retried, dead_lettered, invalid; of a
request: ok, error (the endpoint answered with an error), timeout,
no_responders, failed. ``subject`` is always a declared subject or pattern
(a request's target is an endpoint's exact subject); past 500 distinct request
subjects per sender further ones count under ``other``, so no label grows
without bound. ``service`` of a request or a sent message is the sending bus's
name (or the sending handler's service). ``style``: notify, send, publish,
gather. The backlog is sampled from the broker every few seconds (JetStream
pending, RabbitMQ queue depth, Redis group lag), never per message.

Counts are plain integers turned into metric families only when scraped:
prometheus_client's own metric objects take a lock on every observation.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from interlink import _headers as h
from interlink._errors import NoResponders, RequestTimeout

if TYPE_CHECKING:
    from interlink._service import HandlerSpec
    from interlink.observe._hooks import Outgoing
    from interlink.transports.base import Message

BUCKETS = (.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0, 30.0)
HANDLED = ("ok", "error", "retried", "dead_lettered", "invalid")
REQUESTED = ("ok", "error", "timeout", "no_responders", "failed")
MAX_SUBJECTS = 500
_perf = time.perf_counter


class Histogram:
    """A count per bucket (not cumulative; the last one is +Inf) and the sum; cumulated when scraped."""

    __slots__ = ("buckets", "counts", "total")

    def __init__(self, buckets: tuple[float, ...] = BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.buckets, seconds)] += 1  # bisect_left: a value equal to a bound is in it (le)
        self.total += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip((*(str(b) for b in self.buckets), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out


class HandlerCounters:
    """One handler's counts (shared by the instances of a service in this process)."""

    __slots__ = ("duration", "in_flight", "outcomes")

    def __init__(self) -> None:
        self.in_flight = 0
        self.outcomes = dict.fromkeys(HANDLED, 0)
        self.duration = Histogram()

    def started(self) -> None:
        self.in_flight += 1

    def finished(self, outcome: str, elapsed_ns: int) -> None:
        self.in_flight -= 1
        self.duration.observe(elapsed_ns / 1e9)
        self.outcomes[outcome] += 1


class RequestCounters:
    __slots__ = ("latency", "outcomes")

    def __init__(self) -> None:
        self.outcomes = dict.fromkeys(REQUESTED, 0)
        self.latency = Histogram()


class BusMetrics:
    """Every count of the process's buses: a prometheus_client collector (``collect()`` when scraped)."""

    def __init__(self) -> None:
        self.handlers: dict[tuple[str, str, str], HandlerCounters] = {}
        self.requests: dict[tuple[str, str], RequestCounters] = {}
        self.sent: dict[tuple[str, str], int] = {}
        self.backlog: dict[tuple[str, str, str], int] = {}

    def handler(self, service: str, spec: HandlerSpec) -> HandlerCounters:
        key = (service, spec.name, spec.subject)
        found = self.handlers.get(key)
        if found is None:
            found = self.handlers[key] = HandlerCounters()
        return found

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        labels = ["service", "handler", "subject"]
        handled = CounterMetricFamily("interlink_handled", "Messages handled, by outcome", labels=[*labels, "outcome"])
        duration = HistogramMetricFamily("interlink_handler_duration_seconds", "Handler run time", labels=labels)
        in_flight = GaugeMetricFamily("interlink_handler_in_flight", "Handlings running now", labels=labels)
        for key, c in list(self.handlers.items()):
            for outcome, count in list(c.outcomes.items()):
                handled.add_metric([*key, outcome], count)
            duration.add_metric(list(key), c.duration.cumulative(), c.duration.total)
            in_flight.add_metric(list(key), c.in_flight)
        requests = CounterMetricFamily("interlink_requests", "Requests sent, by outcome",
                                       labels=["service", "subject", "outcome"])
        latency = HistogramMetricFamily("interlink_request_duration_seconds", "Request round trip",
                                        labels=["service", "subject"])
        for key2, r in list(self.requests.items()):
            for outcome, count in list(r.outcomes.items()):
                requests.add_metric([*key2, outcome], count)
            latency.add_metric(list(key2), r.latency.cumulative(), r.latency.total)
        sent = CounterMetricFamily("interlink_sent", "Messages sent without waiting for a reply, by style",
                                   labels=["service", "style"])
        for key2, count in list(self.sent.items()):
            sent.add_metric(list(key2), count)
        backlog = GaugeMetricFamily("interlink_consumer_backlog", "Messages waiting for a consumer, as the broker "
                                    "tells (sampled)", labels=["service", "subject", "transport"])
        for key, count in list(self.backlog.items()):
            backlog.add_metric(list(key), count)
        yield from (handled, duration, in_flight, requests, latency, sent, backlog)


_bus_metrics: BusMetrics | None = None


def install(registry: CollectorRegistry | None) -> CollectorRegistry:
    global _bus_metrics
    chosen = registry if registry is not None else REGISTRY
    _bus_metrics = BusMetrics()
    chosen.register(_bus_metrics)
    return chosen


def bus_metrics() -> BusMetrics:
    if _bus_metrics is None:
        raise RuntimeError("metrics are not enabled (interlink.observe.enable_metrics)")
    return _bus_metrics


def handler_counters(service: str, spec: HandlerSpec) -> HandlerCounters:
    return bus_metrics().handler(service, spec)


class CountedTransport:
    """Counts what the bus sends; requests also by outcome and latency."""

    def __init__(self, inner: Outgoing, sender: str) -> None:
        self._inner = inner
        self._metrics = bus_metrics()
        self._sender = sender
        self._subjects: dict[str, RequestCounters] = {}

    def _counters(self, message: Message) -> RequestCounters:
        subject = message.subject
        found = self._subjects.get(subject)
        if found is None:
            if len(self._subjects) >= MAX_SUBJECTS:
                subject = "other"
            sender = message.headers.get(h.SENDER) or self._sender
            key = (sender, subject)
            found = self._metrics.requests.get(key)
            if found is None:
                found = self._metrics.requests[key] = RequestCounters()
            if subject != "other":
                self._subjects[subject] = found
        return found

    async def request(self, message: Message, timeout: float) -> Message:
        counters = self._counters(message)
        start = _perf()
        outcome = "failed"
        try:
            reply = await self._inner.request(message, timeout)
            outcome = "error" if h.ERROR in reply.headers else "ok"
            return reply
        except RequestTimeout:
            outcome = "timeout"
            raise
        except NoResponders:
            outcome = "no_responders"
            raise
        finally:
            counters.latency.observe(_perf() - start)
            counters.outcomes[outcome] += 1

    def _count(self, message: Message, style: str) -> None:
        key = (message.headers.get(h.SENDER) or self._sender, style)
        sent = self._metrics.sent
        sent[key] = sent.get(key, 0) + 1

    def send(self, message: Message) -> Coroutine[Any, Any, None]:
        """Counted when handed on (a send that then fails counts too): no layer of ours to await."""
        self._count(message, "send" if h.REPLY_TO in message.headers else "notify")
        return self._inner.send(message)

    def publish(self, message: Message, *, durable: bool = True) -> Coroutine[Any, Any, None]:
        self._count(message, "gather" if h.INBOX in message.headers else "publish")
        return self._inner.publish(message, durable=durable)
