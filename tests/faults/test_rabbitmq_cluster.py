"""A real 3-node RabbitMQ cluster (own node names, ports, data dirs, Erlang cookie; joined with
``rabbitmqctl join_cluster``), started once for the module and shared by its scenarios.

The clients are given every node's address; several hosts mean a cluster, so interlink's
durable queues are quorum queues (replicated on the three nodes). The sender is the test's
own bus and retries nothing: a ``notify`` that raises counts as refused. Each scenario prints
lost, refused, duplicates and the longest stall (seconds without a completed ``notify``).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import interlink
from interlink.testing import unique
from tests.faults.brokers import RabbitCluster
from tests.faults.harness import Figures, Workers, wait_until

pytestmark = [pytest.mark.fault, pytest.mark.asyncio]


@pytest.fixture(scope="module")
def cluster() -> Iterator[RabbitCluster]:
    started = time.monotonic()
    nodes = RabbitCluster(3)
    print(f"\n[cluster] 3 RabbitMQ nodes up and joined in {time.monotonic() - started:.1f}s")
    yield nodes
    nodes.stop()


@dataclass
class Stream:
    """The test's sender: ``notify`` calls from ``concurrency`` callers, each outcome recorded, no retry."""

    bus: interlink.Bus
    subject: str
    acked: set[int] = field(default_factory=set)
    refused: dict[str, int] = field(default_factory=dict)
    done_at: list[float] = field(default_factory=list)

    async def send(self, numbers: range, concurrency: int = 20) -> None:
        todo = iter(numbers)

        async def caller() -> None:
            for n in todo:
                try:
                    await self.bus.notify(self.subject, n)
                except interlink.InterlinkError as exc:
                    self.refused[type(exc).__name__] = self.refused.get(type(exc).__name__, 0) + 1
                else:
                    self.acked.add(n)
                    self.done_at.append(time.monotonic())

        await asyncio.gather(*(caller() for _ in range(concurrency)))

    def stall(self) -> float:
        """The longest time in which no ``notify`` returned."""
        times = sorted(self.done_at)
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def report(scenario: str, stream: Stream, workers: Workers) -> Figures:
    handled = {k: v for k, v in workers.handled().items() if int(k) >= 0}
    got = {int(k) for k in handled}
    figures = Figures(scenario, len(stream.acked), len(got & stream.acked), sum(handled.values()) - len(handled))
    figures.print()
    print(f"[fault] refused={sum(stream.refused.values())} {stream.refused or ''} "
          f"longest stall={stream.stall():.2f}s")
    return figures


async def test_leader_of_the_busiest_queue_killed_for_good(cluster: RabbitCluster, tmp_path: Path) -> None:
    workers = Workers(cluster.url, unique("fault"), unique("work"), tmp_path)
    workers.start(2, timeout=60)
    queue = f"il.ep.{workers.subject}"
    killed = None
    try:
        async with interlink.connect(cluster.url) as bus:
            stream = Stream(bus, workers.subject)
            await stream.send(range(0, 1000))
            killed = cluster.leader(queue)
            sending = asyncio.create_task(stream.send(range(1000, 3000)))
            await asyncio.sleep(0.3)  # mid-stream
            killed.kill()
            await asyncio.wait_for(sending, 120)
            new_leader = cluster.leader(queue)
        done = await asyncio.to_thread(wait_until, lambda: {str(n) for n in stream.acked} <= set(workers.handled()),
                                       90)
    finally:
        workers.stop()
        if killed is not None:
            killed.start()  # back for the next scenario (it rejoins the cluster from its data dir)
    figures = report("SIGKILL the leader of the busiest queue (3-node RabbitMQ)", stream, workers)
    print(f"[fault] queue leader was {killed.nodename if killed else '?'}, then {new_leader.nodename}")
    assert new_leader is not killed
    assert done and figures.lost == 0
    assert not stream.refused and len(stream.acked) == 3000


async def test_rolling_restart_of_every_node(cluster: RabbitCluster, tmp_path: Path) -> None:
    workers = Workers(cluster.url, unique("fault"), unique("work"), tmp_path)
    workers.start(2, timeout=60)
    restarts: list[float] = []
    try:
        async with interlink.connect(cluster.url) as bus:
            stream = Stream(bus, workers.subject)
            numbers = iter(range(1_000_000))
            rolling = True

            async def load() -> None:
                while rolling:
                    start = next(numbers)
                    await stream.send(range(start * 100, start * 100 + 100), concurrency=10)
                    await asyncio.sleep(0.05)

            sending = asyncio.create_task(load())
            await asyncio.sleep(1.0)
            for node in cluster.nodes:
                began = time.monotonic()
                await asyncio.to_thread(node.restart)  # SIGTERM (clean stop), start, wait for its port
                restarts.append(time.monotonic() - began)
                await asyncio.sleep(2.0)  # the node's quorum members catch up before the next one goes
            rolling = False
            await asyncio.wait_for(sending, 60)
        done = await asyncio.to_thread(wait_until, lambda: {str(n) for n in stream.acked} <= set(workers.handled()),
                                       90)
    finally:
        workers.stop()
    figures = report("rolling restart of 3 RabbitMQ nodes under load", stream, workers)
    print(f"[fault] node restarts took {', '.join(f'{s:.1f}s' for s in restarts)}")
    assert len(stream.acked) > 1000
    assert done and figures.lost == 0
