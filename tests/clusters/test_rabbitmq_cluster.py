"""interlink on a real 3-node RabbitMQ cluster of the test's own (own node names, ports, data
dirs and Erlang cookie; joined with ``rabbitmqctl join_cluster``), started once for the
module and shared by its scenarios: a RabbitMQ node takes 10-20 s to boot on 2 cores.

Clients are given every node's address; several hosts mean a cluster, so interlink's
durable queues are quorum queues, replicated on the three nodes. Each scenario prints
sent, handled, lost, refused, duplicates and the longest single ``notify``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

import interlink
from tests.clusters.load import figures, send, until
from tests.faults.brokers import OwnRabbit, RabbitCluster
from tests.faults.harness import Workers

pytestmark = pytest.mark.fault

NOTIFICATIONS = 3000


@pytest.fixture(scope="module")
def cluster() -> Iterator[RabbitCluster]:
    started = time.monotonic()
    nodes = RabbitCluster(3)
    print(f"\n[cluster] 3 RabbitMQ nodes up and joined in {time.monotonic() - started:.1f}s")
    yield nodes
    nodes.stop()


def queue_type(node: OwnRabbit, queue: str) -> str:
    for line in node.ctl("list_queues", "-q", "--no-table-headers", "name", "type").splitlines():
        name, _, kind = line.partition("\t")
        if name == queue:
            return kind.strip()
    raise LookupError(queue)


async def test_leader_of_the_busiest_queue_killed_for_good(cluster: RabbitCluster, workers: Workers) -> None:
    queue = f"il.ep.{workers.subject}"
    leader = cluster.leader(queue)
    assert queue_type(leader, queue) == "quorum"
    killing: list[asyncio.Future[None]] = []
    loop = asyncio.get_running_loop()

    def kill_at_a_third(n: int) -> None:
        if n == NOTIFICATIONS // 3 and not killing:
            killing.append(loop.run_in_executor(None, leader.kill))

    try:
        async with interlink.connect(cluster.url, name="cluster-sender") as bus:
            sent = await send(bus, workers.subject, iter(range(NOTIFICATIONS)), concurrency=8, before=kill_at_a_third)
            await asyncio.gather(*killing)
            new_leader = cluster.leader(queue)
        result = figures(f"queue leader {leader.nodename} SIGKILLed for good after {NOTIFICATIONS // 3} of "
                         f"{NOTIFICATIONS}", workers, sent)
    finally:
        await asyncio.to_thread(leader.start)  # back for the next scenario: it rejoins from its data dir
    print(f"[cluster] the queue's new leader: {new_leader.nodename}")
    assert killing and new_leader is not leader
    assert (result.lost, result.refused, result.sent) == (0, 0, NOTIFICATIONS)


async def test_rolling_restart_of_every_node_under_load(cluster: RabbitCluster, workers: Workers) -> None:
    restarts: list[float] = []
    async with interlink.connect(cluster.url, name="cluster-sender") as bus:
        done = asyncio.Event()

        async def restart_each_node() -> None:
            await asyncio.sleep(1.0)
            for node in cluster.nodes:
                began = time.monotonic()
                await asyncio.to_thread(node.restart)  # SIGTERM (a clean stop), start, wait for its port
                restarts.append(time.monotonic() - began)
                await asyncio.sleep(2.0)  # its quorum members catch up before the next node goes
            done.set()

        sending = asyncio.ensure_future(send(bus, workers.subject, until(done), concurrency=4))
        await restart_each_node()
        sent = await sending
    result = figures("rolling restart of 3 RabbitMQ nodes (SIGTERM, start, 2 s)", workers, sent)
    print(f"[cluster] node restarts took {', '.join(f'{s:.1f}s' for s in restarts)}")
    assert result.lost == 0 and result.refused == 0 and result.sent > 100
