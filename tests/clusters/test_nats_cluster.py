"""interlink on a 3-node NATS cluster of the test's own (JetStream on every node, clients
given all three URLs): replicas, a leader killed for good, a rolling restart.

Each scenario prints its figures: sent, handled, lost, refused, duplicates and
the longest a single ``notify`` took (the stall a sender sees in the failover).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import nats
import pytest

import interlink
from tests.clusters.load import figures, send, until
from tests.clusters.nats_cluster import NatsCluster
from tests.faults.harness import Workers

pytestmark = pytest.mark.fault

NOTIFICATIONS = 3000


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    nodes = NatsCluster().start()
    yield nodes
    nodes.stop()


async def stream_leader(url: str, stream: str) -> str:
    client = await nats.connect(url.split(","))
    try:
        info = await client.jsm().stream_info(stream)
        assert info.cluster is not None and info.cluster.leader
        return info.cluster.leader
    finally:
        await client.close()


async def test_streams_and_consumers_are_replicated_on_three_nodes(cluster: NatsCluster, workers: Workers) -> None:
    client = await nats.connect(cluster.url.split(","))
    try:
        for stream in ("interlink_work", "interlink_events", "interlink_dead"):
            info = await client.jsm().stream_info(stream)
            assert info.config.num_replicas == 3 and info.cluster is not None
            assert len(info.cluster.replicas or []) == 2  # the leader's two followers
        for stream in ("interlink_work", "interlink_events"):  # the endpoint's and the subscription's consumer
            consumers = await client.jsm().consumers_info(stream)
            assert len(consumers) == 1 and consumers[0].cluster is not None
            assert len(consumers[0].cluster.replicas or []) == 2
    finally:
        await client.close()
    with pytest.raises(interlink.BrokerError, match=r"replicas=4 is more than the 3 node\(s\)"):
        async with interlink.connect(f"{cluster.url}?replicas=4"):
            pass


@pytest.mark.parametrize("count", [NOTIFICATIONS, pytest.param(10 * NOTIFICATIONS, marks=pytest.mark.soak)])
async def test_leader_killed_for_good_mid_stream_loses_and_refuses_nothing(cluster: NatsCluster, workers: Workers,
                                                                           count: int) -> None:
    async with interlink.connect(cluster.url, name="cluster-sender") as bus:
        leader = await stream_leader(cluster.url, "interlink_work")
        killed: list[str] = []
        joining: list[asyncio.Future[object]] = []

        def kill_at_a_third(n: int) -> None:
            if n == count // 3 and not killed:
                cluster.node(leader).kill()
                killed.append(leader)
                # a third instance starts in the election: it declares streams and its consumer through it
                joining.append(asyncio.ensure_future(asyncio.to_thread(workers.start, 1, 60.0)))

        sent = await send(bus, workers.subject, iter(range(count)), before=kill_at_a_third)
        await joining[0]
    assert killed == [leader] and len(workers.procs) == 3 and all(p.poll() is None for p in workers.procs)
    result = figures(f"stream leader {leader} SIGKILLed for good after {count // 3} of {count}", workers, sent)
    assert (result.lost, result.refused, result.sent) == (0, 0, count)
    assert await stream_leader(cluster.url, "interlink_work") != leader


@pytest.mark.parametrize("rounds", [1, pytest.param(5, marks=pytest.mark.soak)])
async def test_rolling_restart_of_every_node_under_load_loses_nothing(cluster: NatsCluster, workers: Workers,
                                                                      rounds: int) -> None:
    async with interlink.connect(cluster.url, name="cluster-sender") as bus:
        done = asyncio.Event()

        async def restart_each_node() -> None:
            await asyncio.sleep(1.0)
            for node in cluster.nodes * rounds:
                await asyncio.to_thread(node.stop)
                await asyncio.sleep(0.5)
                await asyncio.to_thread(node.start)
                await asyncio.to_thread(cluster.wait_healthy, 60.0)
            await asyncio.sleep(1.0)
            done.set()

        sending = asyncio.ensure_future(send(bus, workers.subject, until(done), concurrency=4))
        await restart_each_node()
        sent = await sending
    result = figures(f"rolling restart of n1, n2, n3 x{rounds} (SIGTERM, start, wait healthy)", workers, sent)
    assert result.lost == 0 and result.refused == 0 and result.sent > 100
