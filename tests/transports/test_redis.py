"""What the conformance suite cannot see of the redis:// transport: errors, recovery, trimming, restarts.

Keys live under the ``iltest`` prefix with a short retention, so the shared
Redis forgets them on its own; tests that restart Redis run their own server.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

import interlink
from interlink import Context, Service
from interlink._embedded import free_port
from interlink.testing import unique
from interlink.testing.conformance import eventually, eventually_async
from interlink.transports.redis import RedisTransport
from tests.conftest import IN_CI, require_broker

REDIS_URL = "redis://127.0.0.1:6379/0"
OPTIONS = "?prefix=iltest&retention=120"

pytestmark = pytest.mark.asyncio


@pytest.fixture
def url() -> str:
    return require_broker(REDIS_URL, "Redis") + OPTIONS


@pytest.fixture
async def raw() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(require_broker(REDIS_URL, "Redis"))
    yield client
    await client.aclose()


class OwnRedis:
    """A redis-server of the test's own on a free port, without persistence, that the test may restart."""

    def __init__(self, *extra: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed"
            if IN_CI:
                pytest.fail(message + " - under CI=true a missing broker is a failure")
            pytest.skip(message)
        self.command = [binary, "--port", str(free_port()), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no", "--daemonize", "no", *extra]
        self.port = int(self.command[2])
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        require_broker_within(self.port, 10.0)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


def require_broker_within(port: int, timeout: float) -> None:
    import socket

    end = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.02)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    yield server
    server.stop()


# -- connecting --------------------------------------------------------------


async def test_unreachable_port_fails_fast_and_clearly() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    start = time.monotonic()
    with pytest.raises(interlink.BrokerError) as err:
        await RedisTransport(url).start()
    assert time.monotonic() - start < 5.0
    text = str(err.value)
    assert "127.0.0.1" in text and "refused" in text.lower() and "hunter2" not in text
    assert err.value.__cause__ is None and err.value.__suppress_context__


async def test_wrong_password_fails_fast_and_clearly() -> None:
    server = OwnRedis("--requirepass", "right-one")
    try:
        url = f"redis://:wrong-one@127.0.0.1:{server.port}/0"
        start = time.monotonic()
        with pytest.raises(interlink.BrokerError) as err:
            await interlink.connect(url).start()
        assert time.monotonic() - start < 5.0
        text = str(err.value)
        assert "authentication" in text and str(server.port) in text and "wrong-one" not in text
        async with interlink.connect(f"redis://:right-one@127.0.0.1:{server.port}/0") as bus:
            assert bus.transport.durable
    finally:
        server.stop()


async def test_bad_url_options_are_refused_at_once() -> None:
    with pytest.raises(interlink.BrokerError, match="maxlen"):
        RedisTransport("redis://127.0.0.1:6379/0?maxlen=0")
    with pytest.raises(interlink.BrokerError, match="prefix"):
        RedisTransport("redis://127.0.0.1:6379/0?prefix=a:b")


# -- recovery and settling ------------------------------------------------------


async def test_message_of_a_dead_consumer_is_recovered(url: str, raw: aioredis.Redis) -> None:
    svc = Service(unique("svc"))
    subject = unique()
    got: list[tuple[int, int]] = []

    @svc.endpoint(subject, ack_wait=0.5)
    async def note(n: int, ctx: Context) -> None:
        got.append((n, ctx.attempt))

    async with interlink.connect(url) as bus:
        await (await bus.serve(svc)).stop()  # declares the group, then nobody reads
        await bus.notify(subject, 7)
        # a consumer takes the message and dies without settling it
        await raw.xreadgroup(svc.name, "ghost", {f"iltest:q:{subject}": ">"}, count=1)
        held = await raw.xpending(f"iltest:q:{subject}", svc.name)
        assert held["pending"] == 1 and held["consumers"][0]["name"] in ("ghost", b"ghost")
        await bus.serve(svc)
        await eventually(lambda: got == [(7, 2)], timeout=5.0)
        left: list[int] = []

        async def count_left() -> None:
            left[:] = [(await raw.xpending(key, svc.name))["pending"], await raw.xlen(key)]

        key = f"iltest:q:{subject}"
        await eventually_async(count_left, lambda: left == [0, 0])  # settled: acknowledged and deleted
    assert got == [(7, 2)]


async def test_working_keeps_a_long_handler_from_being_redelivered(url: str) -> None:
    svc = Service(unique("svc"))
    subject = unique()
    calls: list[int] = []

    @svc.endpoint(subject, ack_wait=0.4)
    async def slow(n: int) -> None:
        calls.append(n)
        await asyncio.sleep(1.5)

    async with interlink.connect(url) as bus:
        await bus.serve(svc)
        await bus.notify(subject, 1)
        await eventually(lambda: calls == [1])
        await asyncio.sleep(2.0)
    assert calls == [1]


async def test_live_only_publish_is_never_stored(url: str, raw: aioredis.Redis) -> None:
    topic = unique()
    svc = Service(unique("svc"))
    got: list[int] = []
    instances: set[str] = set()

    @svc.subscribe(f"{topic}.>")
    async def on_event(n: int, ctx: Context) -> None:
        got.append(n)
        instances.add(ctx.instance)

    async with interlink.connect(url) as bus, interlink.connect(url) as other:
        stream = f"iltest:g:{svc.name}:{topic}.>"
        instance = await bus.serve(svc)
        await other.serve(svc)
        for n in range(20):
            await bus.publish(f"{topic}.a", n, durable=False)  # to one running member, not through the stream
        await eventually(lambda: sorted(got) == list(range(20)))
        assert len(instances) == 2  # balanced between the two members
        await instance.stop()
        await other.close()  # every member is gone now
        assert await raw.xlen(stream) == 0
        await bus.publish(f"{topic}.a", 100, durable=False)
        assert await raw.xlen(stream) == 0
        await bus.publish(f"{topic}.a", 101)
        assert await raw.xlen(stream) == 1
        assert await raw.xrange(stream) and sorted(got) == list(range(20))


async def test_large_bodies_cross_every_path(url: str) -> None:
    svc = Service(unique("svc"))
    s_echo, s_note, topic = unique(), unique(), unique()
    sizes: list[int] = []
    big = "x" * (6 * 1024 * 1024)  # below the 8 MiB limit

    @svc.endpoint(s_echo)
    async def echo(text: str) -> int:
        return len(text)

    @svc.endpoint(s_note)
    async def note(text: str) -> None:
        sizes.append(len(text))

    @svc.subscribe(f"{topic}.big", broadcast=True)
    async def on_big(text: str) -> None:
        sizes.append(len(text))

    async with interlink.connect(url) as bus:
        assert bus.transport.max_payload == 8 * 1024 * 1024
        await bus.serve(svc)
        assert await bus.request(s_echo, big, timeout=10.0) == len(big)
        await bus.notify(s_note, big)
        await bus.publish(f"{topic}.big", big)
        await eventually(lambda: sizes == [len(big)] * 2)


# -- bounded memory -------------------------------------------------------------


async def test_streams_are_trimmed_and_expire(url: str, raw: aioredis.Redis) -> None:
    svc = Service(unique("svc"))
    subject = unique()

    @svc.endpoint(subject)
    async def note(_: int) -> None:
        return None

    async with interlink.connect(url + "&maxlen=100") as bus:
        await (await bus.serve(svc)).stop()
        for start in range(0, 2000, 200):
            await asyncio.gather(*(bus.notify(subject, n) for n in range(start, start + 200)))
    key = f"iltest:q:{subject}"
    length = await raw.xlen(key)
    assert 100 <= length <= 300  # MAXLEN ~ trims whole nodes of 100 entries
    assert 0 < await raw.pttl(key) <= 120_000
    leftovers = [k async for k in raw.scan_iter(match=f"iltest:*{subject}*")]
    leftovers += [k async for k in raw.scan_iter(match=f"iltest:*{svc.name}*")]
    ttls = {key: await raw.pttl(key) for key in leftovers}
    assert ttls and all(ttl > 0 for ttl in ttls.values()), ttls  # nothing stays forever


# -- broker restarts --------------------------------------------------------------


async def test_bus_reconnects_after_redis_restarts(own_redis: OwnRedis) -> None:
    svc = Service(unique("svc"))
    s_echo, s_note, topic = unique(), unique(), unique()
    notes: list[int] = []
    ticks: list[int] = []

    @svc.endpoint(s_echo)
    async def echo(n: int) -> int:
        return n

    @svc.endpoint(s_note)
    async def note(n: int) -> None:
        notes.append(n)

    @svc.subscribe(f"{topic}.tick", broadcast=True)
    async def tick(n: int) -> None:
        ticks.append(n)

    url = f"redis://127.0.0.1:{own_redis.port}/0"
    async with interlink.connect(url) as server, interlink.connect(url) as client:
        await server.serve(svc)
        assert await client.request(s_echo, 1) == 1
        own_redis.stop()
        start = time.monotonic()
        with pytest.raises(interlink.BrokerError):
            await client.request(s_echo, 2, timeout=1.0)
        assert time.monotonic() - start < 2.0  # the timeout bounds the wait for Redis to come back
        own_redis.start()  # empty: no persistence

        async def works() -> bool:
            try:
                return bool(await client.request(s_echo, 3, timeout=1.0) == 3)
            except (interlink.BrokerError, interlink.NoResponders, interlink.RequestTimeout):
                return False

        end = time.monotonic() + 15.0
        while not await works():
            assert time.monotonic() < end, "no reconnection within 15 s"
            await asyncio.sleep(0.2)
        await client.notify(s_note, 4)
        await eventually(lambda: notes == [4])

        async def tick_arrives() -> bool:
            await client.publish(f"{topic}.tick", 5, durable=False)
            await asyncio.sleep(0.1)
            return bool(ticks)

        end = time.monotonic() + 10.0
        while not await tick_arrives():
            assert time.monotonic() < end, "broadcast binding not back within 10 s"
