"""Delayed messages across restarts, with real processes: the service SIGKILLed and the broker restarted
while messages wait. Every one is delivered (lost 0); those due after both came back arrive within 1 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import interlink
from interlink.testing import unique
from tests.faults.brokers import OwnBroker, OwnNats, OwnRabbit, OwnRedis
from tests.faults.harness import Figures, Workers, wait_until

pytestmark = [pytest.mark.fault, pytest.mark.asyncio]

COUNT = 200
# Half the messages fall due while the service and the broker are down (2-10 s), half after
# both are back: LATER seconds on, beyond the broker's restart time here (RabbitMQ takes ~25 s).
LATER = {"nats": 10.0, "redis": 10.0, "rabbitmq": 40.0}


@pytest.fixture(params=sorted(LATER))
def broker(request: pytest.FixtureRequest) -> Iterator[tuple[str, OwnBroker]]:
    own: OwnBroker = {"nats": OwnNats, "rabbitmq": OwnRabbit, "redis": OwnRedis}[request.param]()
    yield request.param, own
    own.stop()


def _delay(n: int, later: float) -> float:
    half = COUNT // 2
    return 2.0 + 8.0 * n / half if n < half else later + 4.0 * (n - half) / half


def _stamps(outdir: Path) -> dict[int, tuple[float, float]]:
    """First arrival and due time per body."""
    got: dict[int, tuple[float, float]] = {}
    for path in outdir.glob("*.stamps"):
        for line in path.read_text().splitlines():
            body, arrived, due = line.split()
            got.setdefault(int(body), (float(arrived), float(due)))
    return got


async def test_delayed_messages_survive_a_killed_service_and_a_broker_restart(
        broker: tuple[str, OwnBroker], tmp_path: Path) -> None:
    name, broker_ = broker
    later = LATER[name]
    workers = Workers(broker_.url, unique("fault"), unique("work"), tmp_path, ["--stamps"])
    (first,) = workers.start(1)
    start = time.time()
    try:
        async with interlink.connect(broker_.url) as bus:
            await asyncio.gather(*(bus.notify(workers.subject, n, delay=_delay(n, later)) for n in range(COUNT)))
        workers.kill(first)
        await asyncio.to_thread(broker_.restart)
        workers.start(1)
        back = time.time()
        done = await asyncio.to_thread(wait_until, lambda: len(_stamps(tmp_path)) >= COUNT, later + 30)
    finally:
        workers.stop()
    stamps = _stamps(tmp_path)
    handled = workers.handled()
    figures = Figures("delayed messages, service SIGKILLed and broker restarted", COUNT, len(stamps),
                      sum(handled.values()) - len(handled))
    figures.print()
    after = [arrived - due for arrived, due in stamps.values() if due > back + 1.0]
    early = [due - arrived for arrived, due in stamps.values() if arrived < due - 0.05]
    print(f"[fault] down for {back - start:.1f}s; {len(after)} due after recovery: "
          f"latest {max(after, default=0):.3f}s late; early: {len(early)}")
    assert done and figures.lost == 0
    assert not early
    assert after and max(after) <= 1.0
