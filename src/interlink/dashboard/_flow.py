"""Flow per endpoint and subscription: messages per second, error rate, latency, with history.

Counts come from the registry (``bus.services()``: handlings finished and failed,
and handling time, per handler of every instance, summed per service); where the
registry is not there, from the tap (messages sent to the subject). Latency
percentiles come from the replies the tap matched with their question (requests,
async sends, gathers): the time from the question leaving to its answer, as the
sender sees it. For handlers nobody answers from (notifications, subscriptions)
the registry's average handling time is shown instead.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from interlink._subjects import matches
from interlink.dashboard._traffic import ASYNC_REPLY, GATHER, NOTIFY, PUBLISH, REQUEST, SEND, Traffic

HISTORY = 300  # samples kept per row (5 minutes at one a second)
RATE_WINDOW = 5.0  # seconds the message rate is averaged over
ERROR_WINDOW = 30.0  # seconds the error rate and the average handling time are computed over
LATENCY_WINDOW = 60.0  # seconds of replies the percentiles are computed over
STALE = 3  # samples an instance may miss from the registry before it counts as gone
_TO_ENDPOINT = (REQUEST, NOTIFY, SEND, ASYNC_REPLY)
_TO_SUBSCRIPTION = (PUBLISH, GATHER)

RowKey = tuple[str, str, str]  # service, kind, subject (a pattern for subscriptions)


@dataclass(slots=True)
class Totals:
    handled: float = 0
    errors: float = 0
    busy_ns: float = 0


@dataclass(slots=True)
class Row:
    """One endpoint or subscription of one service, as the flow view shows it."""

    service: str
    kind: str
    subject: str
    instances: int = 0
    in_flight: int = 0
    rate: float = 0.0
    error_rate: float | None = None
    p50: float | None = None
    p99: float | None = None
    average: float | None = None
    handled: float = 0
    history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    marks: deque[tuple[float, Totals]] = field(default_factory=deque)

    @property
    def key(self) -> RowKey:
        return self.service, self.kind, self.subject


class Flow:
    """The rows, updated by :meth:`sample` from the registry and the traffic."""

    def __init__(self) -> None:
        self.rows: dict[RowKey, Row] = {}
        self.from_registry = False
        # (instance id, kind, subject) -> (sample it was last seen in, service, its HandlerInfo)
        self._handlers: dict[tuple[str, str, str], tuple[int, str, Any]] = {}
        self._sums: dict[RowKey, Totals] = {}
        self._samples = 0

    def sample(self, now: float, registry: list[Any], traffic: Traffic) -> None:
        self.from_registry = bool(registry)
        totals = self._from_registry(registry) if registry else self._from_traffic(traffic)
        for key, (count, instances, in_flight) in totals.items():
            row = self.rows.get(key)
            if row is None:
                row = self.rows[key] = Row(*key)
            row.instances, row.in_flight = instances, in_flight
            self._update(row, now, count, traffic)
        for key in self.rows.keys() - totals.keys():  # gone: its history stays, at rest
            self._update(self.rows[key], now, self._sums.get(key, Totals()), traffic)
            self.rows[key].instances = 0

    def _from_registry(self, registry: list[Any]) -> dict[RowKey, tuple[Totals, int, int]]:
        """Counters summed per (service, kind, subject) over instances; an instance that stops answering
        keeps its last counts, so that the sums never go back."""
        seen = self._handlers
        self._samples += 1
        for info in registry:
            for handler in [*info.endpoints, *info.subscriptions]:
                seen[(info.id, handler.kind, handler.subject)] = (self._samples, info.service, handler)
        out: dict[RowKey, tuple[Totals, int, int]] = {}
        for (_, kind, subject), (at, service, handler) in seen.items():
            key = (service, kind, subject)
            totals, instances, in_flight = out.get(key) or (Totals(), 0, 0)
            totals.handled += handler.num_requests
            totals.errors += handler.num_errors
            totals.busy_ns += handler.processing_time
            live = self._samples - at < STALE
            out[key] = (totals, instances + live, in_flight + (handler.in_flight if live else 0))
        self._sums = {k: v[0] for k, v in out.items()}
        return out

    def _from_traffic(self, traffic: Traffic) -> dict[RowKey, tuple[Totals, int, int]]:
        out: dict[RowKey, tuple[Totals, int, int]] = {}
        for (style, subject), count in list(traffic.counts.items()):
            if style in _TO_ENDPOINT:
                key = (traffic.answered_by.get(subject, "?"), "endpoint", subject)
            elif style in _TO_SUBSCRIPTION:
                key = ("?", "subscription", subject)
            else:
                continue
            totals = out.get(key, (Totals(), 0, 0))[0]
            totals.handled += count
            totals.errors = traffic.errors.get(subject, 0)
            out[key] = (totals, 0, 0)
        return out

    def _update(self, row: Row, now: float, totals: Totals, traffic: Traffic) -> None:
        marks = row.marks
        marks.append((now, Totals(totals.handled, totals.errors, totals.busy_ns)))
        while len(marks) > 2 and now - marks[1][0] >= ERROR_WINDOW:
            marks.popleft()
        row.handled = totals.handled
        recent = next(((t, m) for t, m in marks if now - t <= RATE_WINDOW + 0.5), marks[0])
        span = now - recent[0]
        row.rate = (totals.handled - recent[1].handled) / span if span > 0 else 0.0
        first = marks[0][1]
        handled = totals.handled - first.handled
        row.error_rate = (totals.errors - first.errors) / handled if handled > 0 else None
        busy = totals.busy_ns - first.busy_ns
        row.average = busy / handled / 1e9 if handled > 0 and busy > 0 else None
        row.history.append(row.rate)
        row.p50, row.p99 = _percentiles(row, traffic, now)


def _percentiles(row: Row, traffic: Traffic, now: float) -> tuple[float | None, float | None]:
    if row.kind == "endpoint":
        windows = [traffic.latencies.get(row.subject)]
    else:
        windows = [w for s, w in list(traffic.latencies.items()) if matches(row.subject, s)] \
            if "*" in row.subject or ">" in row.subject else [traffic.latencies.get(row.subject)]
    values = sorted(v for w in windows if w for t, v in list(w) if now - t <= LATENCY_WINDOW)
    if not values:
        return None, None
    return values[len(values) // 2], values[min(len(values) - 1, int(len(values) * 0.99))]

