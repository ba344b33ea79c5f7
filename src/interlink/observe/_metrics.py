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
subjects further ones count under ``other``, so no label grows without bound.
``service`` of a sent message is the sending bus's name. The backlog is
sampled every few seconds from the broker (JetStream pending, RabbitMQ queue
depth, Redis group lag), never per message.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from interlink import _headers as h
from interlink._errors import NoResponders, RequestTimeout

if TYPE_CHECKING:
    from interlink._service import HandlerSpec
    from interlink.observe._hooks import Outgoing
    from interlink.transports.base import Message

BUCKETS = (.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0, 30.0)
MAX_SUBJECTS = 500
_perf = time.perf_counter


class _Family:
    """The metric objects, created once per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.handled = Counter("interlink_handled", "Messages handled, by outcome",
                               ["service", "handler", "subject", "outcome"], registry=registry)
        self.duration = Histogram("interlink_handler_duration_seconds", "Handler run time",
                                  ["service", "handler", "subject"], buckets=BUCKETS, registry=registry)
        self.in_flight = Gauge("interlink_handler_in_flight", "Handlings running now",
                               ["service", "handler", "subject"], registry=registry)
        self.requests = Counter("interlink_requests", "Requests sent, by outcome",
                                ["service", "subject", "outcome"], registry=registry)
        self.latency = Histogram("interlink_request_duration_seconds", "Request round trip",
                                 ["service", "subject"], buckets=BUCKETS, registry=registry)
        self.sent = Counter("interlink_sent", "Messages sent without waiting for a reply, by style",
                            ["service", "style"], registry=registry)
        self.backlog = Gauge("interlink_consumer_backlog", "Messages waiting for a consumer, as the broker tells",
                             ["service", "subject", "transport"], registry=registry)


_family: _Family | None = None


def install(registry: CollectorRegistry | None) -> CollectorRegistry:
    global _family
    chosen = registry if registry is not None else REGISTRY
    _family = _Family(chosen)
    return chosen


def family() -> _Family:
    if _family is None:
        raise RuntimeError("metrics are not enabled (interlink.observe.enable_metrics)")
    return _family


class HandlerCounters:
    """One handler's children of the families, bound once (``labels()`` per message would cost more)."""

    __slots__ = ("_duration", "_gauge", "_outcomes")

    def __init__(self, service: str, spec: HandlerSpec) -> None:
        f = family()
        labels = (service, spec.name, spec.subject)
        self._outcomes = {o: f.handled.labels(*labels, o) for o in ("ok", "error", "retried", "dead_lettered",
                                                                     "invalid")}
        self._duration = f.duration.labels(*labels)
        self._gauge = f.in_flight.labels(*labels)

    def started(self) -> None:
        self._gauge.inc()

    def finished(self, outcome: str, elapsed_ns: int) -> None:
        self._gauge.dec()
        self._duration.observe(elapsed_ns / 1e9)
        self._outcomes[outcome].inc()


class CountedTransport:
    """Counts what the bus sends; requests also by outcome and latency."""

    def __init__(self, inner: Outgoing, sender: str) -> None:
        self._inner = inner
        f = family()
        self._family = f
        self._sender = sender
        self._subjects: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._notify = f.sent.labels(sender, "notify")
        self._send = f.sent.labels(sender, "send")
        self._publish = f.sent.labels(sender, "publish")
        self._gather = f.sent.labels(sender, "gather")

    def _children(self, subject: str) -> tuple[Any, dict[str, Any]]:
        children = self._subjects.get(subject)
        if children is None:
            if len(self._subjects) >= MAX_SUBJECTS:
                subject = "other"
                children = self._subjects.get(subject)
            if children is None:
                f = self._family
                children = (f.latency.labels(self._sender, subject),
                            {o: f.requests.labels(self._sender, subject, o)
                             for o in ("ok", "error", "timeout", "no_responders", "failed")})
                self._subjects[subject] = children
        return children

    async def request(self, message: Message, timeout: float) -> Message:
        latency, outcomes = self._children(message.subject)
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
            latency.observe(_perf() - start)
            outcomes[outcome].inc()

    async def send(self, message: Message) -> None:
        await self._inner.send(message)
        (self._send if h.REPLY_TO in message.headers else self._notify).inc()

    async def publish(self, message: Message, *, durable: bool = True) -> None:
        await self._inner.publish(message, durable=durable)
        (self._gather if h.INBOX in message.headers else self._publish).inc()
