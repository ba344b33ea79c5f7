"""The registry: bus.services() on every transport, and the NATS services API (ADR-32) for NATS tools."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.micro import add_service
from nats.micro.service import EndpointConfig, ServiceConfig, ServiceInfo, ServicePing, ServiceStats

import interlink
from interlink import Service, ServiceError
from interlink.testing import unique
from tests.conformance.test_rabbitmq import RABBIT_URL
from tests.conformance.test_redis import REDIS_URL
from tests.conftest import NATS_URL, NpmInstaller, require_broker
from tests.node import run_node

URLS = {
    "memory": lambda: f"memory://{unique()}",
    "nats": lambda: require_broker(NATS_URL, "NATS"),
    "rabbitmq": lambda: require_broker(RABBIT_URL, "RabbitMQ"),
    "redis": lambda: require_broker(REDIS_URL, "Redis"),
}


def greeter(name: str) -> Service:
    svc = Service(name, version="1.2.3")

    @svc.endpoint(f"{name}.hello")
    async def hello(who: str) -> str:
        if who == "nobody":
            raise ServiceError("unknown", "who is that?")
        return f"hello {who}"

    @svc.subscribe(f"{name}.events.*")
    async def on_event(event: Any) -> None:
        pass

    return svc


@pytest.fixture(params=sorted(URLS))
def url(request: pytest.FixtureRequest) -> str:
    return URLS[request.param]()


async def test_services_lists_every_instance_with_its_handlers_and_stats(url: str) -> None:
    name = unique("svc")
    async with interlink.connect(url) as one, interlink.connect(url) as two, interlink.connect(url) as client:
        await one.serve(greeter(name))
        await two.serve(greeter(name))
        for who in ("ada", "bob", "cy", "nobody"):
            with pytest.raises(interlink.RemoteError) if who == "nobody" else contextlib.nullcontext():
                await client.request(f"{name}.hello", who)
        found = await client.services(within=1.0, service=name)
        assert len(found) == 2, found
        assert {i.id for i in found} == {i.id for i in one.instances + two.instances}
        for info in found:
            assert (info.service, info.version) == (name, "1.2.3")
            assert info.uptime >= 0 and info.pid > 0
            [endpoint] = info.endpoints
            assert (endpoint.subject, endpoint.queue_group) == (f"{name}.hello", name)
            assert endpoint.handler == "greeter.<locals>.hello"
            [subscription] = info.subscriptions
            assert subscription.subject == f"{name}.events.*"
        endpoints = [i.endpoints[0] for i in found]
        assert sum(e.num_requests for e in endpoints) == 4
        assert sum(e.num_errors for e in endpoints) == 1
        assert sum(e.outcomes["ok"] for e in endpoints) == 3
        assert any(e.last_error == "ServiceError: unknown: who is that?" for e in endpoints)
        assert all(e.processing_time >= e.average_processing_time > 0 for e in endpoints if e.num_requests)
        await one.instances[0].stop()
        assert [i.id for i in await client.services(within=1.0, service=name)] == [two.instances[0].id]


async def test_local_services_need_no_broker_round_trip() -> None:
    name = unique("svc")
    async with interlink.connect(f"memory://{unique()}") as bus:
        instance = await bus.serve(greeter(name))
        [info] = bus.local_services()
        assert info.id == instance.id and info.transport == "memory"


@pytest.fixture
async def nats_served() -> AsyncIterator[tuple[str, interlink.Bus]]:
    name = unique("svc")
    async with interlink.connect(require_broker(NATS_URL, "NATS")) as bus:
        await bus.serve(greeter(name))
        await bus.serve(greeter(name))
        await bus.request(f"{name}.hello", "ada")
        yield name, bus


async def _ask(nc: Any, subject: str, expect: int) -> list[dict[str, Any]]:
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(subject, b"", reply=inbox)
    answers = []
    try:
        for _ in range(expect + 1):
            answers.append(json.loads((await sub.next_msg(timeout=0.5 if answers else 3)).data))
    except nats.errors.TimeoutError:
        pass
    await sub.unsubscribe()
    return answers


async def test_nats_services_api_answers_like_nats_micro(nats_served: tuple[str, interlink.Bus]) -> None:
    name, bus = nats_served
    ids = sorted(i.id for i in bus.instances)
    nc = await nats.connect(NATS_URL.partition("?")[0])
    try:
        pings = await _ask(nc, f"$SRV.PING.{name}", 2)
        assert sorted(p["id"] for p in pings) == ids
        assert {ServicePing.from_dict(p).type for p in pings} == {"io.nats.micro.v1.ping_response"}
        [info] = await _ask(nc, f"$SRV.INFO.{name}.{ids[0]}", 1)
        parsed = ServiceInfo.from_dict(info)
        assert (parsed.type, parsed.name, parsed.version) == ("io.nats.micro.v1.info_response", name, "1.2.3")
        assert [(e.name, e.subject, e.queue_group) for e in parsed.endpoints] == [("hello", f"{name}.hello", name)]
        stats = [ServiceStats.from_dict(s) for s in await _ask(nc, f"$SRV.STATS.{name}", 2)]
        assert {s.type for s in stats} == {"io.nats.micro.v1.stats_response"}
        assert sum(s.endpoints[0].num_requests for s in stats) == 1
        everyone = await _ask(nc, "$SRV.PING", 10_000)
        assert set(ids) <= {p["id"] for p in everyone}
        await _same_keys_as_nats_micro(nc, info, stats and (await _ask(nc, f"$SRV.STATS.{name}.{ids[0]}", 1))[0])
    finally:
        await nc.close()


async def _same_keys_as_nats_micro(nc: Any, info: dict[str, Any], stats: dict[str, Any]) -> None:
    """A service made with nats-py's own nats.micro answers with the same fields as interlink's."""
    name = unique("micro")

    async def handle(request: Any) -> None:
        await request.respond(b"ok")

    service = await add_service(nc, ServiceConfig(name=name, version="1.0.0", description="d"))
    await service.add_endpoint(EndpointConfig(name="echo", subject=f"{name}.echo", handler=handle))
    try:
        [micro_info] = await _ask(nc, f"$SRV.INFO.{name}", 1)
        [micro_stats] = await _ask(nc, f"$SRV.STATS.{name}", 1)
    finally:
        await service.stop()
    assert set(info) == set(micro_info)
    assert set(info["endpoints"][0]) == set(micro_info["endpoints"][0])
    assert set(stats) == set(micro_stats)
    assert set(stats["endpoints"][0]) == set(micro_stats["endpoints"][0])


NATS_JS = """
const { connect } = require("nats");
(async () => {
  const nc = await connect({ servers: process.env.NATS });
  const client = nc.services.client();
  const out = { ping: [], info: [], stats: [] };
  for await (const p of await client.ping(process.env.NAME)) out.ping.push(p);
  for await (const i of await client.info(process.env.NAME)) out.info.push(i);
  for await (const s of await client.stats(process.env.NAME, process.env.ID)) out.stats.push(s);
  console.log(JSON.stringify(out));
  await nc.close();
})().catch((e) => { console.error(e); process.exit(1); });
"""


async def test_nats_js_services_client_finds_interlink_services(
        nats_served: tuple[str, interlink.Bus], npm: NpmInstaller) -> None:
    name, bus = nats_served
    folder = npm("nats@2")
    env = {**os.environ, "NATS": NATS_URL.partition("?")[0], "NAME": name, "ID": bus.instances[0].id}
    out = json.loads(await asyncio.to_thread(run_node, folder, NATS_JS, env=env))
    assert sorted(p["id"] for p in out["ping"]) == sorted(i.id for i in bus.instances)
    assert {p["type"] for p in out["ping"]} == {"io.nats.micro.v1.ping_response"}
    assert {e["subject"] for i in out["info"] for e in i["endpoints"]} == {f"{name}.hello"}
    [stats] = out["stats"]
    assert stats["id"] == bus.instances[0].id and stats["type"] == "io.nats.micro.v1.stats_response"
    assert stats["endpoints"][0]["name"] == "hello"
