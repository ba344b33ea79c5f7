"""bus.dead_letters: list with filters, get, replay one and all, purge (memory and NATS)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import interlink
from interlink import Context, DeadLetterNotFound, Service, ServiceError
from interlink.testing import unique
from tests.conftest import NATS_URL, require_broker


@pytest.fixture(params=["memory", "nats"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[interlink.Bus]:
    url = f"memory://{unique('dlq')}" if request.param == "memory" else require_broker(NATS_URL, "NATS")
    async with interlink.connect(url) as b:
        yield b


async def _letters(bus: interlink.Bus, service: str, count: int) -> list[interlink.DeadLetter]:
    for _ in range(200):
        letters = await bus.dead_letters.list(service=service)
        if len(letters) >= count:
            return letters
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} dead letters of {service}, got {len(letters)}")


async def test_list_filters_get_replay_and_purge(bus: interlink.Bus) -> None:
    svc = Service(unique("dlqsvc"))
    prefix = unique("dlq")
    handled: list[int] = []
    fail = True

    @svc.endpoint(f"{prefix}.charge", max_attempts=1)
    async def charge(n: int, ctx: Context) -> None:
        if fail:
            raise ServiceError("declined", f"card {n} declined", {"n": n})
        handled.append(n)

    @svc.subscribe(f"{prefix}.events.*", max_attempts=1)
    async def on_event(n: int) -> None:
        if fail:
            raise RuntimeError(f"boom {n}")
        handled.append(n)

    await bus.serve(svc)
    await bus.notify(f"{prefix}.charge", 1)
    await bus.publish(f"{prefix}.events.a", 2)
    letters = await _letters(bus, svc.name, 2)
    by_code = {d.code: d for d in letters}
    assert set(by_code) == {"declined", "internal"}
    declined = by_code["declined"]
    assert declined.subject == f"{prefix}.charge" and declined.kind == "endpoint"
    assert declined.attempts == 1 and declined.reason == "declined: card 1 declined"
    assert declined.error_service == svc.name and declined.at > 0 and declined.json() == 1
    assert by_code["internal"].reason == "RuntimeError: boom 2" and by_code["internal"].kind == "subscription"
    assert [d.id for d in await bus.dead_letters.list(service=svc.name, subject=f"{prefix}.events.>")] == [
        by_code["internal"].id]
    assert [d.id for d in await bus.dead_letters.list(service=svc.name, code="declined")] == [declined.id]
    assert await bus.dead_letters.list(service=unique("nobody")) == []
    assert (await bus.dead_letters.get(declined.id)).to_dict()["body"] == 1

    fail = False
    new_id = await bus.dead_letters.replay(declined.id)
    assert new_id != declined.id
    with pytest.raises(DeadLetterNotFound):
        await bus.dead_letters.get(declined.id)
    assert await bus.dead_letters.replay_all(service=svc.name) == 1
    for _ in range(200):
        if sorted(handled) == [1, 2]:
            break
        await asyncio.sleep(0.05)
    assert sorted(handled) == [1, 2]
    assert await bus.dead_letters.list(service=svc.name) == []


async def test_purge_by_filter_leaves_the_others(bus: interlink.Bus) -> None:
    svc = Service(unique("dlqpurge"))
    prefix = unique("dlq")

    @svc.endpoint(f"{prefix}.a", max_attempts=1)
    async def a(n: int) -> None:
        raise ServiceError("bad_a")

    @svc.endpoint(f"{prefix}.b", max_attempts=1)
    async def b(n: int) -> None:
        raise ServiceError("bad_b")

    await bus.serve(svc)
    for n in range(3):
        await bus.notify(f"{prefix}.a", n)
    await bus.notify(f"{prefix}.b", 9)
    await _letters(bus, svc.name, 4)
    assert await bus.dead_letters.purge(service=svc.name, code="bad_a") == 3
    rest = await bus.dead_letters.list(service=svc.name)
    assert [d.code for d in rest] == ["bad_b"]
    assert await bus.dead_letters.purge(ids={rest[0].id}) == 1
    assert await bus.dead_letters.list(service=svc.name) == []
    with pytest.raises(DeadLetterNotFound):
        await bus.dead_letters.replay("no-such-id")
