"""The streams interlink keeps on NATS: limits and storage from the URL, replicas, and
an existing stream adopted as it is (a warning per difference) or refused when unusable."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

import interlink
from interlink._embedded import NatsServer
from interlink.transports.nats._options import parse
from interlink.transports.nats._streams import differences, replicas_for, stream_configs


@pytest.fixture
def server() -> Iterator[NatsServer]:
    own = NatsServer().start()
    yield own
    own.cleanup()


@pytest.fixture
async def raw(server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(server.url)
    yield client
    await client.close()


async def test_limits_and_storage_come_from_the_url(server: NatsServer, raw: Client) -> None:
    async with interlink.connect(f"{server.url}?max_age=2h&max_bytes=64MiB&storage=memory&dead_max_age=3d"):
        pass
    work = (await raw.jsm().stream_info("interlink_work")).config
    dead = (await raw.jsm().stream_info("interlink_dead")).config
    assert (work.max_age, work.max_bytes, work.storage, work.num_replicas) == (7200.0, 64 << 20,
                                                                              StorageType.MEMORY, 1)
    assert (dead.max_age, dead.storage) == (3 * 86_400.0, StorageType.MEMORY)


async def test_an_operators_changes_are_kept_with_a_warning_naming_them(server: NatsServer, raw: Client,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    async with interlink.connect(server.url):
        pass
    changed = (await raw.jsm().stream_info("interlink_work")).config
    changed.max_age, changed.max_bytes = 3600.0, 10 << 20
    await raw.jsm().update_stream(changed)
    with caplog.at_level(logging.WARNING, logger="interlink.nats"):
        async with interlink.connect(server.url) as bus:
            await bus.notify("streams.kept", 1)  # the adopted stream stores
    kept = (await raw.jsm().stream_info("interlink_work")).config
    assert (kept.max_age, kept.max_bytes) == (3600.0, 10 << 20)  # not overwritten
    warned = [r.getMessage() for r in caplog.records if "interlink_work" in r.getMessage()]
    assert len(warned) == 1 and "max_age 3600s (interlink would use 7d)" in warned[0]
    assert "max_bytes 10485760 (interlink would use 1073741824)" in warned[0]


async def test_a_stream_interlink_cannot_use_is_a_clear_error(server: NatsServer, raw: Client) -> None:
    await raw.jsm().add_stream(StreamConfig(name="interlink_work", subjects=["_il.q.>"],
                                            retention=RetentionPolicy.LIMITS))
    with pytest.raises(interlink.BrokerError) as err:
        async with interlink.connect(server.url):
            pass
    text = str(err.value)
    assert "interlink_work" in text and "retention is limits, interlink needs workqueue" in text
    assert "nats stream edit interlink_work" in text


async def test_replicas_on_a_single_server_are_refused(server: NatsServer) -> None:
    with pytest.raises(interlink.BrokerError, match=r"replicas=3: this server is not part of a cluster"):
        async with interlink.connect(f"{server.url}?replicas=3"):
            pass


def info(cluster: str | None, nodes: int) -> dict[str, Any]:
    urls = [f"127.0.0.1:{4222 + i}" for i in range(nodes)]
    return {"cluster": cluster, "connect_urls": urls} if cluster else {}


@pytest.mark.parametrize(("query", "server_info", "expected"), [
    ("", info(None, 0), 1), ("", info("c", 3), 3), ("", info("c", 5), 3), ("", info("c", 2), 2),
    ("?replicas=1", info("c", 3), 1), ("?replicas=5", info("c", 5), 5),
])
def test_replica_count(query: str, server_info: dict[str, Any], expected: int) -> None:
    assert replicas_for(parse(f"nats://a:4222{query}"), server_info) == expected


def test_more_replicas_than_nodes_is_refused() -> None:
    with pytest.raises(interlink.BrokerError, match=r"replicas=4 is more than the 3 node\(s\)"):
        replicas_for(parse("nats://a:4222?replicas=4"), info("c", 3))


def test_more_replicas_than_an_automatic_count_is_no_difference() -> None:
    wanted = stream_configs(parse("nats://a:4222"), 2)[0]  # a node was down: 2 known
    found = dataclasses.replace(wanted, num_replicas=3)
    assert differences(wanted, found, exact_replicas=False) == []
    assert differences(wanted, found, exact_replicas=True) == ["num_replicas 3 (interlink would use 2)"]
    fewer = dataclasses.replace(wanted, num_replicas=1)
    assert differences(wanted, fewer, exact_replicas=False) == ["num_replicas 1 (interlink would use 2)"]
