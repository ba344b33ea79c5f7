"""Names, arguments and URL options of the ``amqp://`` transport (no broker calls here).

Every name starts with a prefix (``il`` unless the URL says ``?prefix=``)::

    exchanges (durable)
      {p}.events        topic   durable publishes, routing key = subject
      {p}.live          topic   non-durable publishes: only queues of running members are bound
      {p}.delay.{ms}    fanout  retry delay of ``ms``; its queue dead-letters back by routing key
    queues
      {p}.ep.{S}        durable    sends to endpoint subject S, kept while no member runs
      {p}.rq.{S}        auto-del   requests to S (and sends to non-durable endpoints); exists
                                   only while a member consumes it, so an unroutable request
                                   means "no responders"
      {p}.sub.{G}.{P}   durable    subscription of group G on pattern P (``*`` as ``+``, ``>`` as ``#``
                                   in the name), bound to {p}.events
      {p}.live.{G}.{P}  auto-del   its live sibling, bound to {p}.live
      {p}.grp.{G}.{P}   auto-del   non-durable group, bound to both exchanges
      {p}.bc.{id}       exclusive  one broadcast member, bound to both exchanges
      {p}.inbox.{id}    exclusive  one connection's inbox (gather replies)
      {p}.dead          durable    dead letters (always classic: browsing relies on its requeue order)
      {p}.delay.{ms}    durable    x-message-ttl = ms, x-dead-letter-exchange = "" (back to the source)

Endpoint queues are per subject, not per service: an endpoint subject has one owner,
and a sender can then park a send for an endpoint that nobody has served yet by
declaring that queue itself.

URL options and hosts: :mod:`interlink.transports.rabbitmq._url`. On a cluster (several hosts)
the durable ``ep``/``sub`` queues and the delay queues are quorum queues; the dead-letter queue
stays classic (see :meth:`Names.dead_arguments`).
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from typing import Any

from interlink.transports.rabbitmq._url import Options

MAX_NAME = 255  # AMQP short string: queue names and routing keys
LIVE_EXPIRES_MS = 300_000  # a live queue nobody ever consumed (a failed setup) goes after 5 minutes
DELAY_TIERS_MS = (10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000,
                  3_600_000)

# Transport headers (stripped before a message reaches the bus).
ATTEMPT = "x-il-attempt"
SUBJECT = "x-il-subject"
DELAY = "x-il-delay"
_BROKER_HEADERS = ("x-death", "x-delivery-count", "x-first-death-exchange", "x-first-death-queue",
                   "x-first-death-reason", "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason")
TRANSPORT_HEADERS = (ATTEMPT, SUBJECT, DELAY, *_BROKER_HEADERS)

@dataclass(frozen=True, slots=True)
class QueuePlan:
    """One queue a consumer declares, binds and consumes."""

    name: str
    stored: bool  # durable, acked through a Receipt
    durable: bool = False
    exclusive: bool = False
    auto_delete: bool = False
    arguments: dict[str, Any] = field(default_factory=dict)
    binds: tuple[tuple[str, str], ...] = ()  # (exchange, routing key)
    passive: bool = False  # use the queue as it exists, declare nothing


class Names:
    """All broker names of one prefix, cached: the hot paths look names up per message."""

    def __init__(self, options: Options) -> None:
        p = options.prefix
        self.options = options
        self.events = f"{p}.events"
        self.live = f"{p}.live"
        self.dead = f"{p}.dead"
        self._p = p
        self._endpoint: dict[str, str] = {}
        self._requests: dict[str, str] = {}

    def endpoint(self, subject: str) -> str:
        name = self._endpoint.get(subject)
        if name is None:
            if len(self._endpoint) > 10_000:
                self._endpoint.clear()
            name = self._endpoint[subject] = fit(f"{self._p}.ep.{subject}")
        return name

    def requests(self, subject: str) -> str:
        name = self._requests.get(subject)
        if name is None:
            if len(self._requests) > 10_000:
                self._requests.clear()
            name = self._requests[subject] = fit(f"{self._p}.rq.{subject}")
        return name

    def delay(self, tier_ms: int) -> str:
        return f"{self._p}.delay.{tier_ms}"

    def inbox(self, token: str) -> str:
        return f"{self._p}.inbox.{token}"

    def stored_arguments(self) -> dict[str, Any]:
        """Arguments of durable ep/sub queues: queue type and idle expiry."""
        args: dict[str, Any] = {}
        if self.options.queue_type == "quorum":
            args["x-queue-type"] = "quorum"
        if self.options.expires > 0:
            args["x-expires"] = int(self.options.expires * 1000)
        return args

    def dead_arguments(self) -> dict[str, Any]:
        """Always a classic queue, on one node of a cluster: browsing relies on its requeue order."""
        return {"x-expires": int(self.options.dead_expires * 1000)} if self.options.dead_expires > 0 else {}

    def delay_arguments(self, tier_ms: int) -> dict[str, Any]:
        args: dict[str, Any] = {"x-message-ttl": tier_ms, "x-dead-letter-exchange": ""}
        if self.options.queue_type == "quorum":
            # a quorum queue dead-letters at most once unless told otherwise; at-least-once needs reject-publish
            args.update({"x-queue-type": "quorum", "x-dead-letter-strategy": "at-least-once",
                         "x-overflow": "reject-publish"})
        return args

    def plans(self, kind: str, pattern: str, group: str | None, durable: bool, token: str,
              parked: bool = False) -> list[QueuePlan]:
        """The queues of one binding; ``token`` names a broadcast member's own queue.

        ``parked``: a durable queue exists for a non-durable endpoint (a sender parked sends there while
        no member ran); its members take them, and later sends, from it too, without receipts.
        """
        live_args = {"x-expires": LIVE_EXPIRES_MS}
        p = self._p
        if kind == "endpoint":
            live = QueuePlan(self.requests(pattern), stored=False, auto_delete=True, arguments=live_args)
            if not durable:
                return [QueuePlan(self.endpoint(pattern), stored=False, passive=True), live] if parked else [live]
            stored = QueuePlan(self.endpoint(pattern), stored=True, durable=True, arguments=self.stored_arguments())
            return [stored, live]
        key = amqp_pattern(pattern)
        pattern = pattern.replace("*", "+").replace(">", "#")  # queue names may not hold '*' or '>'
        both = ((self.events, key), (self.live, key))
        if group is None:
            return [QueuePlan(f"{p}.bc.{token}", stored=False, exclusive=True, auto_delete=True, binds=both)]
        if not durable:
            return [QueuePlan(fit(f"{p}.grp.{group}.{pattern}"), stored=False, auto_delete=True,
                              arguments=live_args, binds=both)]
        return [
            QueuePlan(fit(f"{p}.sub.{group}.{pattern}"), stored=True, durable=True,
                      arguments=self.stored_arguments(), binds=((self.events, key),)),
            QueuePlan(fit(f"{p}.live.{group}.{pattern}"), stored=False, auto_delete=True,
                      arguments=live_args, binds=((self.live, key),)),
        ]


def fit(name: str) -> str:
    """Keep a name within AMQP's 255 bytes: long ones end in a hash of the whole."""
    if len(name.encode()) <= MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:16]
    return name.encode()[:MAX_NAME - 17].decode(errors="ignore") + "~" + digest


def amqp_pattern(pattern: str) -> str:
    """``*`` stays ``*``; ``>`` (one or more tokens) becomes ``*.#`` since AMQP's ``#`` also matches none."""
    if pattern == ">" or pattern.endswith(".>"):
        return pattern[:-1] + "*.#"
    return pattern


def delay_tier(seconds: float) -> int:
    """The delay tier (ms) nearest to ``seconds`` on a log scale: delays are quantised to a few queues."""
    ms = max(seconds * 1000.0, DELAY_TIERS_MS[0])
    i = bisect.bisect_left(DELAY_TIERS_MS, ms)
    if i == 0:
        return DELAY_TIERS_MS[0]
    if i == len(DELAY_TIERS_MS):
        return DELAY_TIERS_MS[-1]
    low, high = DELAY_TIERS_MS[i - 1], DELAY_TIERS_MS[i]
    return low if ms / low <= high / ms else high
