"""The streams interlink keeps, how many replicas they get, and how an existing
stream is adopted.

==================  ==============  ==========  ===============================================
stream              subjects        retention   limits (URL options, see ``_options``)
==================  ==============  ==========  ===============================================
interlink_work      ``_il.q.>``     work queue  ``max_age`` (7d), ``max_bytes`` (1GiB), new
                                                messages refused when full
interlink_events    ``_il.e.d.>``   interest    ``max_age`` (7d), ``max_bytes`` (1GiB), new
                                                messages refused when full
interlink_dead      ``_il.dead.>``  limits      ``dead_max_age`` (14d), ``max_bytes``, oldest
                                                dropped when full
==================  ==============  ==========  ===============================================

All three use ``storage`` (file) and deduplicate on ``Nats-Msg-Id`` for 2 minutes.
On a cluster they get 3 replicas, or one per node when the cluster has fewer
(``replicas=N`` overrides); their durable consumers inherit the stream's count.

A stream that does not exist is created. One that exists is used as it is: its
settings are never overwritten, so an operator's changes (``nats stream edit``)
stay. Where they differ from what interlink would create, a warning names each
difference. Where they break what interlink relies on (subjects, retention,
acknowledged publishes, deduplication, not sealed), starting fails with a
BrokerError that says what to change.
"""

from __future__ import annotations

import logging
from typing import Any

from nats.js.api import DiscardPolicy, RetentionPolicy, StreamConfig

from interlink._errors import BrokerError
from interlink.transports.nats._options import DAY, Options

log = logging.getLogger("interlink.nats")

WORK_STREAM = "interlink_work"
EVENTS_STREAM = "interlink_events"
DEAD_STREAM = "interlink_dead"
DEDUP_WINDOW = 120.0
DEFAULT_REPLICAS = 3
_SHOWN = ("max_age", "max_bytes", "storage", "num_replicas", "discard", "duplicate_window", "max_msgs",
          "max_msg_size", "max_msgs_per_subject", "deny_delete", "deny_purge")


def replicas_for(options: Options, server_info: dict[str, Any]) -> int:
    """The replica count: ``replicas=N``, else 3 or the size of a smaller cluster, else 1 (one server).

    The cluster's size is the number of nodes the server announces to clients
    (its INFO ``connect_urls``): the nodes routed to it now. A count larger than
    that is a BrokerError.
    """
    clustered = bool(server_info.get("cluster"))
    nodes = len(set(server_info.get("connect_urls") or ())) if clustered else 1
    if options.replicas is None:
        if not clustered:
            return 1
        if nodes and nodes < DEFAULT_REPLICAS:
            log.warning("NATS cluster %s: %d node(s) known; streams get %d replica(s) (replicas=N to choose)",
                        server_info.get("cluster"), nodes, nodes)
        return min(DEFAULT_REPLICAS, nodes or DEFAULT_REPLICAS)
    if options.replicas > 1 and not clustered:
        raise BrokerError(f"replicas={options.replicas}: this server is not part of a cluster (replicas=1, or "
                          "connect to a cluster)")
    if nodes and options.replicas > nodes:
        raise BrokerError(f"replicas={options.replicas} is more than the {nodes} node(s) of NATS cluster "
                          f"{server_info.get('cluster')!r}")
    return options.replicas


def stream_configs(options: Options, replicas: int) -> tuple[StreamConfig, ...]:
    common: dict[str, Any] = {"storage": options.storage, "num_replicas": replicas,
                              "duplicate_window": DEDUP_WINDOW}
    max_bytes = options.max_bytes
    return (
        StreamConfig(name=WORK_STREAM, subjects=["_il.q.>"], retention=RetentionPolicy.WORK_QUEUE,
                     max_age=options.max_age, max_bytes=max_bytes, discard=DiscardPolicy.NEW, **common),
        StreamConfig(name=EVENTS_STREAM, subjects=["_il.e.d.>"], retention=RetentionPolicy.INTEREST,
                     max_age=options.max_age, max_bytes=max_bytes, discard=DiscardPolicy.NEW, **common),
        StreamConfig(name=DEAD_STREAM, subjects=["_il.dead.>"], retention=RetentionPolicy.LIMITS,
                     max_age=options.dead_max_age, max_bytes=max_bytes, discard=DiscardPolicy.OLD, **common),
    )


def incompatible(wanted: StreamConfig, found: StreamConfig) -> list[str]:
    """What in an existing stream breaks interlink (empty when it can be used)."""
    problems = []
    subjects = set(found.subjects or ())
    if not set(wanted.subjects or ()) <= subjects:
        problems.append(f"subjects {sorted(subjects)} must include {wanted.subjects}")
    if found.retention != wanted.retention:
        problems.append(f"retention is {_shown(found.retention)}, interlink needs {_shown(wanted.retention)}")
    if found.no_ack:
        problems.append("no_ack is set: interlink needs the stream's acknowledgement of each publish")
    if not found.duplicate_window:
        problems.append("duplicate_window is 0: interlink's resends under the same Nats-Msg-Id need deduplication")
    if found.sealed:
        problems.append("the stream is sealed")
    return problems


def differences(wanted: StreamConfig, found: StreamConfig, *, exact_replicas: bool = True) -> list[str]:
    """The settings in which an existing, usable stream differs from what interlink would create.

    Without ``exact_replicas`` (no ``replicas=`` given) more replicas than the automatic count are no
    difference: a node down while a process starts makes that count smaller, not the stream wrong.
    """
    out = []
    for name in _SHOWN:
        have, want = getattr(found, name), getattr(wanted, name)
        if want is None or _same(name, have, want):
            continue
        if name == "num_replicas" and not exact_replicas and (have or 1) > want:
            continue
        out.append(f"{name} {_shown(have, name)} (interlink would use {_shown(want, name)})")
    return out


def _same(name: str, have: Any, want: Any) -> bool:
    if name in ("max_bytes", "max_msgs", "max_msg_size", "max_msgs_per_subject"):
        return (have if have and have > 0 else -1) == (want if want and want > 0 else -1)
    if name in ("deny_delete", "deny_purge"):
        return bool(have) == bool(want)
    if isinstance(want, float):
        return abs(float(have or 0.0) - want) < 0.001
    return bool(have == want)


def _shown(value: Any, name: str = "") -> str:
    if name in ("max_age", "duplicate_window"):
        seconds = float(value or 0)
        if not seconds:
            return "unlimited"
        return f"{seconds / DAY:g}d" if seconds >= DAY else f"{seconds:g}s"
    if name in ("max_bytes", "max_msgs", "max_msg_size", "max_msgs_per_subject") and (value is None or value <= 0):
        return "unlimited"
    return str(getattr(value, "value", value))


def check_existing(url: str, wanted: StreamConfig, found: StreamConfig, *, exact_replicas: bool = True) -> None:
    """Check an existing stream: a BrokerError if unusable, else a warning per difference."""
    problems = incompatible(wanted, found)
    if problems:
        raise BrokerError(f"{url}: stream {wanted.name} exists with settings interlink cannot use: "
                          f"{'; '.join(problems)} (fix it with `nats stream edit {wanted.name}`, or remove it)")
    changed = differences(wanted, found, exact_replicas=exact_replicas)
    if changed:
        log.warning("NATS %s: stream %s is used as it is; it differs from interlink's defaults in %s", url,
                    wanted.name, "; ".join(changed))

