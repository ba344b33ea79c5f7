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
SPREAD = 20.0  # due times spread over this many seconds from the start


@pytest.fixture(params=["nats", "rabbitmq", "redis"])
def broker(request: pytest.FixtureRequest) -> Iterator[OwnBroker]:
    own: OwnBroker = {"nats": OwnNats, "rabbitmq": OwnRabbit, "redis": OwnRedis}[request.param]()
    yield own
    own.stop()


def _stamps(outdir: Path) -> dict[int, tuple[float, float]]:
    """First arrival and due time per body."""
    got: dict[int, tuple[float, float]] = {}
    for path in outdir.glob("*.stamps"):
        for line in path.read_text().splitlines():
            body, arrived, due = line.split()
            got.setdefault(int(body), (float(arrived), float(due)))
    return got


async def test_delayed_messages_survive_a_killed_service_and_a_broker_restart(broker: OwnBroker,
                                                                             tmp_path: Path) -> None:
    workers = Workers(broker.url, unique("fault"), unique("work"), tmp_path, ["--stamps"])
    (first,) = workers.start(1)
    start = time.time()
    try:
        async with interlink.connect(broker.url) as bus:
            await asyncio.gather(*(bus.notify(workers.subject, n, delay=2.0 + SPREAD * n / COUNT)
                                   for n in range(COUNT)))
        workers.kill(first)
        await asyncio.to_thread(broker.restart)
        workers.start(1)
        back = time.time()
        done = await asyncio.to_thread(wait_until, lambda: len(_stamps(tmp_path)) >= COUNT, SPREAD + 30)
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
