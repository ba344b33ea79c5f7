"""The dashboard's HTTP side on the memory broker: views, input checks, access, an unreachable broker,
and the gateway's mount."""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn

import interlink
from interlink._embedded import NatsServer, free_port
from interlink.dashboard import Board, dashboard_app
from interlink.dashboard._guard import Guard
from interlink.examples.taxi.messages import Place, RideRequest
from interlink.examples.taxi.services import billing, dispatcher, driver, notification, passenger, trip
from interlink.testing import unique
from tests.gateway.conftest import running

TAXI = [passenger, trip, billing, dispatcher, driver, notification]
HTMX = {"HX-Request": "true"}
FORM = {**HTMX, "content-type": "application/x-www-form-urlencoded"}


@asynccontextmanager
async def serving(app: Any, host: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as client:
            yield client
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def taxi_board(**guard: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Board, interlink.Bus]]:
    url = f"memory://{unique('dash')}"
    async with interlink.connect(url, name="phones") as bus:
        for service in TAXI:
            await bus.serve(service)
        board = await Board(url, interval=0.2).start()
        app = Guard(dashboard_app(board), token=guard.get("token"), loopback=True)
        try:
            async with serving(app) as client:
                yield client, board, bus
        finally:
            await board.close()


async def ride(bus: interlink.Bus, n: int) -> str:
    return await bus.notify("trip.request", RideRequest(unique(f"r{n}"), "p1", Place(52.52, 13.4),
                                                        Place(52.5, 13.45), time.time()))


async def eventually(client: httpx.AsyncClient, path: str, *needles: str, seconds: float = 10.0) -> str:
    text = ""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        text = (await client.get(path)).text
        if all(n in text for n in needles):
            return text
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} never showed {needles}: {text[:2000]}")


async def test_views_show_the_taxi_app_from_registry_and_traffic() -> None:
    async with taxi_board() as (client, _board, bus):
        cid = await ride(bus, 1)
        page = await eventually(client, "/topology", *(f'data-name="{s.name}"' for s in TAXI),
                                'data-style="request/response"', 'data-style="publish/async responses"')
        assert 'data-name="phones"' in page  # the sender that serves nothing: a client
        flow = await eventually(client, "/flow", 'data-subject="passenger.verify" data-service="passenger"')
        assert "counts from the registry" in flow
        story = await eventually(client, f"/story?cid={cid}", "driver.proposed", "passenger.verify",
                                 "billing.preauthorise")
        assert story.count('class="step"') >= 8
        assert (await client.get("/backlog")).status_code == 200
        assert (await client.get("/healthz")).json()["broker"] == "connected"


@pytest.mark.parametrize(("path", "why"), [
    ("/dead-letters?service=a.b", "service name"),
    ("/dead-letters?subject=a.>.b", "must be the last token"),
    ("/dead-letters?reason=" + "x" * 300, "at most 200"),
    ("/dead-letters?colour=red", "unknown parameter 'colour'"),
    ("/tail?pattern=a&pattern=b", "given 2 times"),
    ("/story?cid=%3Cscript%3E", "is not an id"),
    ("/dead-letters/not%20an%20id", "is not an id"),
    ("/tail/control?paused=yes", "a flag is 0 or 1"),
])
async def test_bad_input_is_a_400_naming_it(path: str, why: str) -> None:
    async with taxi_board() as (client, _, _):
        answer = await client.get(path)
        assert answer.status_code == 400 and why in answer.json()["message"], answer.text
        assert answer.json()["error"] == "bad_request"
        htmx = await client.get(path, headers=HTMX)
        assert htmx.status_code == 400 and html.unescape(htmx.text).count(why) == 1 and "<script" not in htmx.text


async def test_actions_need_the_dashboards_own_page_and_name_a_missing_letter() -> None:
    async with taxi_board() as (client, board, bus):
        assert (await client.post("/dead-letters/abc/replay")).status_code == 403  # a plain form elsewhere
        cross = await client.post("/dead-letters/purge", headers={**HTMX, "Origin": "http://evil.example"})
        assert cross.status_code == 403
        gone = await client.post("/dead-letters/abc/replay", headers=HTMX)
        assert gone.status_code == 404 and "No dead letter with id abc" in gone.text
        shown = await client.get("/dead-letters/abc")
        assert shown.status_code == 404 and "No dead letter with id" in shown.text
        big = await client.post("/dead-letters/purge", headers=FORM, content=b"reason=" + b"x" * 5000)
        assert big.status_code == 400
        bad_id = await bus.notify("trip.request", {"ride_id": 1})  # invalid: dead-lettered at once
        await eventually(client, "/dead-letters", bad_id)
        purged = await client.post("/dead-letters/purge", headers=FORM,
                                   content=b"service=trip&subject=trip.*&reason=invalid")
        assert purged.status_code == 200 and "Removed 1 dead letter" in purged.text
        assert "purge dead letters matching" in board.actions[0].what and board.actions[0].who == "local user"
        assert await bus.dead_letters.list() == []


async def test_loopback_only_without_a_token_and_the_token_when_given() -> None:
    async with taxi_board() as (client, _, _):
        assert (await client.get("/flow", headers={"Host": "dashboard.evil.example"})).status_code == 403
    async with taxi_board(token="s3cret-token") as (client, _, _):
        assert (await client.get("/flow")).status_code == 401
        assert (await client.get("/flow?token=wrong")).status_code == 401
        signed = await client.get("/flow?token=s3cret-token")
        assert signed.status_code == 303 and signed.headers["location"] == "/flow"
        assert "httponly" in signed.headers["set-cookie"].lower()
        assert (await client.get("/flow")).status_code == 200  # the cookie
        bearer = httpx.AsyncClient(base_url=str(client.base_url), headers={"Authorization": "Bearer s3cret-token"})
        async with bearer:
            assert (await bearer.get("/flow")).status_code == 200


async def test_an_unreachable_broker_is_shown_and_retried_until_it_answers() -> None:
    port = free_port()
    board = await Board(f"nats://127.0.0.1:{port}", interval=0.2).start()
    try:
        async with serving(Guard(dashboard_app(board), token=None, loopback=True)) as client:
            page = await eventually(client, "/topology", "The broker is unreachable", "Retrying")
            assert f"127.0.0.1:{port}" in page
            assert (await client.get("/healthz")).status_code == 503
            gone = await client.post("/dead-letters/x/replay", headers=HTMX)
            assert gone.status_code == 503 and "unreachable" in gone.text
            server = NatsServer(port=port).start()
            try:
                for _ in range(150):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                    await asyncio.sleep(0.1)
                assert (await client.get("/healthz")).json()["broker"] == "connected"
            finally:
                await board.close()
                server.cleanup()
    finally:
        await board.close()


GATEWAY = """
name: {name}
auth:
  api_keys:
    - {{client: ops, key: ops-key, claims: {{role: ops}}}}
    - {{client: app, key: app-key}}
dashboard: {{path: /ops/dashboard, claims: {{role: ops}}}}
routes: []
"""


async def test_the_gateway_serves_it_behind_its_auth() -> None:
    url = f"memory://{unique('gwdash')}"
    async with running(GATEWAY.format(name=unique("gw")), url, TAXI) as gw:
        client = gw.client
        assert (await client.get("/ops/dashboard/topology")).status_code == 401
        assert (await client.get("/ops/dashboard/topology?api_key=app-key")).status_code == 403  # no role: ops
        signed = await client.get("/ops/dashboard/topology?api_key=ops-key")
        assert signed.status_code == 303 and signed.headers["location"] == "/ops/dashboard/topology"
        assert "Path=/ops/dashboard" in signed.headers["set-cookie"]
        page = await eventually(client, "/ops/dashboard/topology", 'data-name="trip"')  # the session cookie
        assert 'href="/ops/dashboard/flow"' in page and 'src="/ops/dashboard/static/htmx.min.js"' in page
        assert (await client.get("/ops/dashboard/static/htmx.min.js")).status_code == 200
        gone = await client.post("/ops/dashboard/dead-letters/x/replay", headers=HTMX)
        assert gone.status_code == 404 and "No dead letter" in gone.text
        assert gw.gateway.dashboard is not None and gw.gateway.dashboard.board.actions[0].who == "ops"
        client.cookies.clear()
        keyed = await client.get("/ops/dashboard/flow", headers={"x-api-key": "ops-key"})
        assert keyed.status_code == 200
