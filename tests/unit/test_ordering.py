"""Ordered by key, in parallel (memory broker)."""

import asyncio
import random
from typing import Any

import msgspec
import pytest

import interlink
from interlink import Service
from interlink.testing import unique
from interlink.testing.conformance import eventually


class RideEvent(msgspec.Struct):
    ride_id: str
    seq: int


async def test_same_key_in_order_different_keys_concurrently() -> None:
    svc, subject = Service(unique("svc")), unique()
    log: dict[str, list[int]] = {}
    running: dict[str, int] = {}
    most_at_once = 0
    overlap_same_key = False

    @svc.endpoint(subject, order_by="ride_id", max_concurrency=16)
    async def handle(event: RideEvent) -> None:
        nonlocal most_at_once, overlap_same_key
        overlap_same_key |= running.get(event.ride_id, 0) > 0
        running[event.ride_id] = running.get(event.ride_id, 0) + 1
        most_at_once = max(most_at_once, sum(running.values()))
        await asyncio.sleep(random.uniform(0, 0.01))
        log.setdefault(event.ride_id, []).append(event.seq)
        running[event.ride_id] -= 1

    async with interlink.connect(f"memory://{unique()}") as bus:
        await bus.serve(svc)
        for seq in range(20):
            for ride in ("r1", "r2", "r3", "r4"):
                await bus.notify(subject, RideEvent(ride, seq))
        await eventually(lambda: sum(map(len, log.values())) == 80)
        assert all(seqs == list(range(20)) for seqs in log.values()), log
        assert not overlap_same_key
        assert most_at_once > 1  # different keys did run at once


async def test_key_function_and_dict_bodies() -> None:
    svc, subject = Service(unique("svc")), unique()
    got: list[Any] = []

    @svc.endpoint(subject, order_by=lambda body: body["k"] % 2)
    async def handle(body: dict[str, int]) -> None:
        await asyncio.sleep(0.001 * (5 - body["n"]))
        got.append((body["k"] % 2, body["n"]))

    async with interlink.connect(f"memory://{unique()}") as bus:
        await bus.serve(svc)
        for n in range(5):
            await bus.notify(subject, {"k": n, "n": n})
        await eventually(lambda: len(got) == 5)
        assert [n for k, n in got if k == 0] == [0, 2, 4]
        assert [n for k, n in got if k == 1] == [1, 3]


def test_order_by_is_checked() -> None:
    with pytest.raises(TypeError):
        Service("s").endpoint("s.x", order_by=3)
