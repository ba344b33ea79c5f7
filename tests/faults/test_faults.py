"""Fault injection with real processes and real brokers: lost == 0 in every scenario.

Each run prints its figures (sent, handled, duplicates, dead-lettered, lost).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import interlink
from interlink.testing import unique
from interlink.transports import Message
from tests.conftest import NATS_URL, require_broker
from tests.faults.brokers import OwnBroker, OwnNats, OwnRabbit, OwnRedis
from tests.faults.harness import ROOT, Figures, Workers, rss_mb, wait_until

pytestmark = [pytest.mark.fault, pytest.mark.asyncio]

# The machine's brokers, with short retention so that what these runs leave behind goes away.
SHARED = {
    "nats": NATS_URL,
    "redis": "redis://127.0.0.1:6379/0?retention=900",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/?expires=900",
}
OWN: dict[str, Callable[[], OwnBroker]] = {"nats": OwnNats, "rabbitmq": OwnRabbit, "redis": OwnRedis}
# What a broker cannot promise is run too, marked with the reason (docs/transports.md, guarantees table).
VOLATILE_REDIS = "Redis without AOF or RDB persistence keeps nothing across a restart"
KEEPING = [*sorted(OWN), pytest.param("redis-volatile", marks=pytest.mark.xfail(strict=True, reason=VOLATILE_REDIS))]


@pytest.fixture(params=KEEPING)
def keeping_broker(request: pytest.FixtureRequest) -> Iterator[OwnBroker]:
    broker = OwnRedis(persistent=False) if request.param == "redis-volatile" else OWN[request.param]()
    yield broker
    broker.stop()


@pytest.fixture(params=sorted(SHARED))
def shared_url(request: pytest.FixtureRequest) -> str:
    return require_broker(SHARED[request.param], request.param)


@pytest.fixture(params=sorted(OWN))
def own_broker(request: pytest.FixtureRequest) -> Iterator[OwnBroker]:
    broker = OWN[request.param]()
    yield broker
    broker.stop()


async def send_all(bus: interlink.Bus, subject: str, numbers: range, batch: int = 100) -> int:
    for start in range(numbers.start, numbers.stop, batch):
        await asyncio.gather(*(bus.notify(subject, n) for n in range(start, min(start + batch, numbers.stop))))
    return len(numbers)


async def test_kill_an_instance_mid_stream(shared_url: str, tmp_path: Path) -> None:
    workers = Workers(shared_url, unique("fault"), unique("work"), tmp_path, ["--ack-wait", "2"])
    workers.start(3)
    try:
        async with interlink.connect(shared_url) as bus:
            sent = await send_all(bus, workers.subject, range(0, 1500))
            workers.kill(workers.procs[0])
            sent += await send_all(bus, workers.subject, range(1500, 3500))
            workers.start(1)
            sent += await send_all(bus, workers.subject, range(3500, 5000))
        done = await asyncio.to_thread(wait_until, lambda: len(workers.handled()) >= 5000, 90)
    finally:
        workers.stop()
    handled = workers.handled()
    figures = Figures("SIGKILL one of 3 instances", sent, len(handled), sum(handled.values()) - len(handled))
    figures.print()
    assert done and set(handled) == {str(n) for n in range(5000)}
    assert figures.lost == 0


async def test_sender_killed_mid_stream(shared_url: str, tmp_path: Path) -> None:
    """Every notify that returned before the sender was SIGKILLed is handled: a returned call means stored."""
    workers = Workers(shared_url, unique("fault"), unique("work"), tmp_path, ["--ack-wait", "2"])
    workers.start(2)
    confirmed_file = tmp_path / "confirmed.txt"
    sender = subprocess.Popen([sys.executable, "-m", "tests.faults.sender", shared_url, workers.subject,
                               str(confirmed_file)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        started = await asyncio.to_thread(
            wait_until, lambda: confirmed_file.exists() and confirmed_file.read_text().count("\n") >= 2000, 60)
        sender.kill()
        sender.wait(10)
        confirmed = {line for line in confirmed_file.read_text().split("\n") if line}
        done = await asyncio.to_thread(wait_until, lambda: confirmed <= set(workers.handled()), 60)
    finally:
        if sender.poll() is None:
            sender.kill()
        workers.stop()
    handled = workers.handled()
    figures = Figures("SIGKILL the sender", len(confirmed), len(confirmed & set(handled)),
                      sum(handled.values()) - len(handled))
    figures.print()
    print(f"[fault] handled beyond the confirmed ones (in flight when killed): {len(set(handled) - confirmed)}")
    assert started and done
    assert figures.lost == 0


async def test_broker_restart_mid_stream(own_broker: OwnBroker, tmp_path: Path) -> None:
    workers = Workers(own_broker.url, unique("fault"), unique("work"), tmp_path, ["--ack-wait", "2"])
    workers.start(2)
    acked: set[int] = set()
    outcomes: dict[str, int] = {}
    try:
        async with interlink.connect(own_broker.url) as bus:
            async def stream() -> None:
                for n in range(3000):
                    try:
                        await bus.notify(workers.subject, n)
                        acked.add(n)
                    except interlink.InterlinkError as exc:
                        outcomes[f"notify {type(exc).__name__}"] = outcomes.get(f"notify {type(exc).__name__}", 0) + 1
                    if n % 10 == 0:
                        try:
                            await bus.request(workers.subject, -1, timeout=1.0)
                            outcomes["request ok"] = outcomes.get("request ok", 0) + 1
                        except (interlink.ConnectionLost, interlink.RequestTimeout, interlink.NoResponders,
                                interlink.BrokerError) as exc:
                            outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
                    await asyncio.sleep(0.001)

            task = asyncio.create_task(stream())
            await asyncio.sleep(1.0)
            await asyncio.to_thread(own_broker.restart)
            await asyncio.wait_for(task, 120)
            # the services recovered without a restart of theirs
            recovered = False
            for _ in range(50):
                try:
                    recovered = await bus.request(workers.subject, -2, timeout=1.0) == -2
                    break
                except interlink.InterlinkError:
                    await asyncio.sleep(0.2)
        done = await asyncio.to_thread(
            wait_until, lambda: {str(n) for n in acked} <= set(workers.handled()), 60)
    finally:
        workers.stop()
    handled = {k: v for k, v in workers.handled().items() if int(k) >= 0}  # negative: the requests
    got = {int(k) for k in handled}
    figures = Figures("broker restart", len(acked), len(got & acked), sum(handled.values()) - len(handled))
    figures.print()
    print(f"[fault] outcomes during the restart: {outcomes}")
    assert recovered and done
    assert figures.lost == 0
    assert outcomes.get("request ok", 0) > 0


async def test_messages_kept_for_a_stopped_service_survive_a_broker_restart(keeping_broker: OwnBroker,
                                                                             tmp_path: Path) -> None:
    workers = Workers(keeping_broker.url, unique("fault"), unique("work"), tmp_path, ["--ack-wait", "2"])
    (first,) = workers.start(1)  # declares the service's durable queues, then goes away
    first.terminate()
    first.wait(15)
    try:
        async with interlink.connect(keeping_broker.url) as bus:
            sent = await send_all(bus, workers.subject, range(500))
        await asyncio.to_thread(keeping_broker.restart)
        workers.start(1)
        done = await asyncio.to_thread(wait_until, lambda: len(workers.handled()) >= 500, 20)
    finally:
        workers.stop()
    handled = workers.handled()
    figures = Figures("kept while the service was down, across a broker restart", sent, len(handled),
                      sum(handled.values()) - len(handled))
    figures.print()
    assert done and figures.lost == 0


async def test_poison_message_is_dead_lettered(shared_url: str, tmp_path: Path) -> None:
    service = unique("fault")
    workers = Workers(shared_url, service, unique("work"), tmp_path, ["--max-attempts", "3"])
    workers.start(1)
    try:
        async with interlink.connect(shared_url) as bus:
            for n in range(300):
                await bus.notify(workers.subject, n)
                if n % 100 == 50:
                    await bus.notify(workers.subject, "poison")
            dead: list[Message] = []

            async def poll() -> bool:
                dead[:] = [m for m in await bus.transport.dead_letters(10_000)
                           if m.headers.get("il-dead-service") == service]
                return len(dead) >= 3

            end = time.monotonic() + 60
            while not await poll() and time.monotonic() < end:
                await asyncio.sleep(0.2)
            done = await asyncio.to_thread(wait_until, lambda: len(workers.handled()) >= 300, 30)
            await bus.transport.remove_dead_letters({m.headers["il-id"] for m in dead})
        alive = workers.procs[0].poll() is None
    finally:
        workers.stop()
    handled = workers.handled()
    figures = Figures("poison among good", 303, len(handled), sum(handled.values()) - len(handled), len(dead))
    figures.print()
    assert done and alive and len(dead) == 3
    assert all(m.headers["il-dead-attempts"] == "3" and "poison" in m.headers["il-dead-reason"] for m in dead)
    assert figures.lost == 0


async def test_slow_consumer_memory_stays_bounded(shared_url: str, tmp_path: Path) -> None:
    workers = Workers(shared_url, unique("fault"), unique("work"), tmp_path,
                      ["--slow", "0.02", "--max-concurrency", "8"])
    (proc,) = workers.start(1)
    payload = "x" * 2000
    try:
        base = rss_mb(proc.pid)
        peak = base
        async with interlink.connect(shared_url) as bus:
            for start in range(0, 10_000, 200):
                await asyncio.gather(*(bus.publish(f"{workers.subject}.events", f"{n}:{payload}")
                                       for n in range(start, start + 200)))
                peak = max(peak, rss_mb(proc.pid))
            for _ in range(20):
                await asyncio.sleep(0.1)
                peak = max(peak, rss_mb(proc.pid))
    finally:
        workers.stop()
    print(f"\n[fault] slow consumer under a flood of 10000 x 2 KB: RSS {base:.1f} MB -> peak {peak:.1f} MB")
    assert peak - base < 40, "a slow consumer must not buffer the flood in memory"
