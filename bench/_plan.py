"""What runs on each broker: the sides, the tests and the message counts."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Literal

from bench._workload import DURABLE_MODES, DurableMode, Side

URLS = {
    "nats": "nats://127.0.0.1:4222",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/",
    "redis": "redis://127.0.0.1:6379/0",
    "memory": "memory://bench",
}
BROKERS = ("memory", "nats", "rabbitmq", "redis")


@dataclass(frozen=True, slots=True)
class Counts:
    """Messages per measurement (the same for every side); the warm-up is a tenth, at least 50."""

    req1: int
    req50: int
    pubsub: int
    durable: int

    @staticmethod
    def warmup(n: int) -> int:
        return max(50, n // 10)


# Per broker, so that each measurement lasts a few seconds on the slowest side; every side of one
# broker gets the same counts.
FULL = {
    "memory": Counts(req1=20_000, req50=50_000, pubsub=100_000, durable=0),
    "nats": Counts(req1=3_000, req50=20_000, pubsub=50_000, durable=10_000),
    "rabbitmq": Counts(req1=1_000, req50=3_000, pubsub=5_000, durable=2_000),
    "redis": Counts(req1=2_000, req50=5_000, pubsub=10_000, durable=5_000),
}
QUICK = Counts(req1=200, req50=500, pubsub=1_000, durable=500)


@dataclass(slots=True)
class Group:
    """Sides run together on one broker, and the tests they share."""

    tests: tuple[str, ...]
    sides: list[Side] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def interlink_transport(broker: str) -> tuple[bool, bool, str]:
    """(available, durable, reason): whether interlink has a transport for ``broker`` yet."""
    module, cls = {"memory": ("memory", "MemoryTransport"), "nats": ("nats", "NatsTransport"),
                   "rabbitmq": ("rabbitmq", "RabbitTransport"), "redis": ("redis", "RedisTransport")}[broker]
    try:
        transport = getattr(importlib.import_module(f"interlink.transports.{module}"), cls)
    except (ImportError, AttributeError) as exc:
        return False, False, f"interlink has no {broker} transport here ({exc})"
    return True, bool(getattr(transport, "durable", False)), ""


def _add_interlink(group: Group, broker: str, url: str, mode: Literal["core"] | DurableMode = "core") -> None:
    from bench.interlink_side import InterlinkSide

    available, can_persist, reason = interlink_transport(broker)
    if not available:
        group.skipped.append(reason)
    elif mode != "core" and not can_persist:
        group.skipped.append(f"interlink's {broker} transport is not durable yet")
    else:
        group.sides.append(InterlinkSide(url, mode))


def _baseline_and_peer(broker: str, url: str) -> tuple[Side, Side | None]:
    """The raw client (a direct call on memory) and FastStream (none on memory)."""
    if broker == "memory":
        from bench.memory import DirectCall

        return DirectCall(), None
    if broker == "nats":
        from bench.nats_faststream import NatsFastStream
        from bench.nats_raw import NatsRaw

        return NatsRaw(url), NatsFastStream(url)
    if broker == "rabbitmq":
        from bench.rabbitmq_faststream import RabbitFastStream
        from bench.rabbitmq_raw import RabbitRaw

        return RabbitRaw(url), RabbitFastStream(url)
    from bench.redis_faststream import RedisFastStream
    from bench.redis_raw import RedisRaw

    return RedisRaw(url), RedisFastStream(url)


def _durable_pair(broker: str, url: str, mode: DurableMode) -> tuple[Side, Side]:
    """The raw client and FastStream for one durable mode on one broker."""
    if broker == "nats":
        from bench.nats_faststream import JetStreamFastStream
        from bench.nats_raw import JetStreamRaw

        return JetStreamRaw(url, mode), JetStreamFastStream(url, mode)
    if broker == "rabbitmq":
        from bench.rabbitmq_durable import RabbitDurableFastStream, RabbitDurableRaw

        return RabbitDurableRaw(url, mode), RabbitDurableFastStream(url, mode)
    from bench.redis_durable import RedisDurableFastStream, RedisDurableRaw

    return RedisDurableRaw(url, mode), RedisDurableFastStream(url, mode)


def _add_alternatives(group: Group, broker: str, url: str) -> None:
    """Other raw clients on the same rows: natsrpy on NATS (when installed), pipelined PUBLISH on Redis."""
    if broker == "nats":
        try:
            from bench.nats_natsrpy import NatsRpyRaw
        except ImportError as exc:
            group.skipped.append(f"no natsrpy side ({exc})")
        else:
            group.sides.append(NatsRpyRaw(url))
    elif broker == "redis":
        from bench.redis_raw import RedisRawPipelined

        group.sides.append(RedisRawPipelined(url))


def groups_for(broker: str, url: str) -> list[Group]:
    """The core group (request/response and pub/sub), and on every broker that persists, the two durable groups."""
    core = Group(("req1", "req50", "pubsub"))
    baseline, peer = _baseline_and_peer(broker, url)
    core.sides.append(baseline)
    if broker == "memory":
        from bench.memory import memory_url

        url = memory_url()
    _add_interlink(core, broker, url)
    if peer is not None:
        core.sides.append(peer)
    _add_alternatives(core, broker, url)
    groups = [core]
    if broker != "memory":
        for mode in DURABLE_MODES:
            raw, faststream = _durable_pair(broker, url, mode)
            group = Group((mode,), [raw])
            _add_interlink(group, broker, url, mode)
            group.sides.append(faststream)
            groups.append(group)
    return groups
