"""The observers' side of a transport: tap() sees every kind of delivery once, backlog() what waits."""

from __future__ import annotations

import asyncio

import pytest

import interlink
from interlink import Service
from interlink.testing import unique
from interlink.transports.base import Message, TapKind
from tests.conftest import NATS_URL, require_broker


@pytest.fixture(params=["memory", "nats"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return f"memory://{unique('tap')}"
    return require_broker(NATS_URL, "NATS")


async def test_tap_sees_each_kind_once_and_never_takes_part(url: str) -> None:
    name = unique("tapped")
    svc = Service(name)
    handled: list[str] = []

    @svc.endpoint(f"{name}.echo")
    async def echo(body: dict[str, int]) -> dict[str, int]:
        return body

    @svc.endpoint(f"{name}.note")
    async def note(body: dict[str, int]) -> None:
        handled.append("note")

    @svc.subscribe(f"{name}.event")
    async def event(body: dict[str, int]) -> dict[str, str]:
        handled.append("event")
        return {"answer": "yes"}

    seen: list[tuple[TapKind, Message]] = []
    async with interlink.connect(url) as bus, interlink.connect(url, name="observer") as observer:
        await bus.serve(svc)
        tap = await observer.transport.tap(lambda kind, message: seen.append((kind, message)))
        try:
            assert await bus.request(f"{name}.echo", {"n": 1}) == {"n": 1}
            await bus.notify(f"{name}.note", {"n": 2})
            await bus.publish(f"{name}.event", {"n": 3})
            replies = await bus.gather(f"{name}.event", {"n": 4}, within=0.5)
            for _ in range(50):
                if len(handled) >= 3:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
        finally:
            await tap.stop()
        ours = [(k, m.subject if k != "reply" else "", m.headers.get("il-from")) for k, m in seen
                if (k != "reply" and m.subject.startswith(name)) or (k == "reply" and m.headers.get("il-from") == name)]
        assert sorted(ours) == sorted([
            ("request", f"{name}.echo", "client"), ("reply", "", name),
            ("send", f"{name}.note", "client"),
            ("publish", f"{name}.event", "client"), ("publish", f"{name}.event", "client"),
            ("reply", "", name),
        ])
        assert len(replies) == 1 and sorted(handled) == ["event", "event", "note"]  # the tap took nothing
        rows = [b for b in await observer.transport.backlog() if b.subject.startswith(name)]
        by_subject = {(b.kind, b.subject): b for b in rows}
        assert by_subject[("subscription", f"{name}.event")].service == name
        assert by_subject[("endpoint", f"{name}.note")].pending == 0


@pytest.mark.parametrize(("url", "name"), [("amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ"),
                                           ("redis://127.0.0.1:6379/0", "Redis")])
async def test_the_default_tap_hears_publishes(url: str, name: str) -> None:
    require_broker(url, name)
    subject = f"{unique('tapped')}.event"
    seen: list[tuple[TapKind, str]] = []
    async with interlink.connect(url) as bus, interlink.connect(url, name="observer") as observer:
        tap = await observer.transport.tap(lambda kind, message: seen.append((kind, message.subject)))
        try:
            await bus.publish(subject, {"n": 1})
            for _ in range(50):
                if seen:
                    break
                await asyncio.sleep(0.05)
        finally:
            await tap.stop()
        assert [s for s in seen if s[1] == subject] == [("publish", subject)]
        assert await observer.transport.backlog() == []  # not reported there (docs/dashboard.md)


@pytest.mark.parametrize(("url", "name"), [("amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ"),
                                           ("redis://127.0.0.1:6379/0", "Redis")])
async def test_a_serving_connection_reports_its_own_durable_backlog(url: str, name: str) -> None:
    require_broker(url, name)
    service = unique("backlogged")
    svc = Service(service)
    release = asyncio.Event()

    @svc.endpoint(f"{service}.work", max_concurrency=2)
    async def work(body: int) -> None:
        await release.wait()

    async with interlink.connect(url) as bus:
        await bus.serve(svc)
        for n in range(6):
            await bus.notify(f"{service}.work", n)
        row = None
        for _ in range(100):  # until both handlers hold one and the rest wait in the broker
            rows = [b for b in await bus.transport.backlog() if b.subject == f"{service}.work"]
            row = rows[0] if rows else None
            if row is not None and row.pending + row.in_flight == 6 and row.in_flight == 2:
                break
            await asyncio.sleep(0.05)
        assert row is not None and (row.service, row.kind) == (service, "endpoint")
        assert (row.pending, row.in_flight) == (4, 2)
        release.set()
        for _ in range(100):
            (row,) = [b for b in await bus.transport.backlog() if b.subject == f"{service}.work"]
            if row.pending + row.in_flight == 0:
                break
            await asyncio.sleep(0.05)
        assert (row.pending, row.in_flight) == (0, 0)
