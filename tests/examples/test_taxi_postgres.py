"""The taxi demo with its state in PostgreSQL, its messages through the outbox, 2 instances of every service.

``interlink demo`` runs as a process of its own on the embedded NATS broker; every service
instance (2 of trip, billing, dispatcher, passenger, notification; 3 drivers) is on a bus of
its own in that process, with 2 outbox relays; the state is shared through PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from interlink.testing import unique
from tests.conftest import require_broker
from tests.outbox.conftest import POSTGRES_DSN

ROOT = Path(__file__).resolve().parents[2]
RIDES = 20


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    """A schema name of this run; the demo creates its tables, the fixture drops it after."""
    require_broker(POSTGRES_DSN.replace("postgresql://postgres@", "tcp://"), "PostgreSQL")
    name = unique("taxi").replace("-", "_").replace(".", "_").lower()
    yield name
    await rows(name, "DROP SCHEMA IF EXISTS {s} CASCADE")


async def rows(schema: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(POSTGRES_DSN)
    try:
        found: list[asyncpg.Record] = await conn.fetch(sql.format(s=schema))
        return found
    finally:
        await conn.close()


async def test_the_demo_on_postgresql_with_two_instances_of_every_service(schema: str) -> None:
    demo = subprocess.run(
        [sys.executable, "-m", "interlink.cli", "demo", "--rides", str(RIDES), "--http-rides", "2",
         "--instances", "2", "--capture-delay", "1", "--schema", schema, "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "INTERLINK_DSN": POSTGRES_DSN})
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    report = json.loads(demo.stdout.splitlines()[-1])
    assert report["completed"] == RIDES
    assert report["http"]["completed"] == 2
    assert report["captures"] == {"expected": RIDES, "captured": RIDES, "most_per_ride": 1,
                                  "store": "PostgresStore", "outbox_pending": 0}

    rides = await rows(schema, "SELECT ride_id, status FROM {s}.taxi_rides WHERE ride_id LIKE 'r%'")
    assert len(rides) == RIDES and {r["status"] for r in rides} == {"driver_proposed"}
    captures = await rows(schema, "SELECT ride_id, count(*) AS n FROM {s}.taxi_captures GROUP BY 1")
    assert {r["ride_id"] for r in rides} <= {c["ride_id"] for c in captures}
    assert [c for c in captures if c["n"] != 1] == []  # each capture happened once
    pending = await rows(schema, "SELECT id, subject FROM {s}.interlink_outbox WHERE relayed IS NULL")
    assert pending == []  # nothing left in the outbox
    delayed = await rows(schema, "SELECT count(*) AS n FROM {s}.interlink_outbox "
                                 "WHERE subject = 'billing.capture' AND due IS NOT NULL")
    assert delayed[0]["n"] >= RIDES  # the captures went out as delayed messages
    handled = await rows(schema, "SELECT consumer, count(*) AS n FROM {s}.interlink_inbox GROUP BY 1")
    inbox = {r["consumer"]: r["n"] for r in handled}
    assert inbox["billing:billing.capture"] >= RIDES and inbox["trip:trip.request"] >= RIDES


async def test_interlink_run_keeps_the_taxi_state_in_postgresql_across_two_processes(schema: str) -> None:
    """The app's lifespan opens the PostgreSQL store in each `interlink run` process (INTERLINK_DSN):
    the gateway and the trip side in one, the dispatcher and three drivers in the other, one state."""
    import httpx
    import jwt

    from tests.cli.test_cli_processes import free_port, start, stop

    env = {"INTERLINK_DSN": POSTGRES_DSN, "TAXI_SCHEMA": schema}
    broker = start("broker", "--json")
    procs: list[subprocess.Popen[str]] = []
    try:
        assert broker.stdout is not None
        url = json.loads(broker.stdout.readline())["url"]
        port = free_port()
        for only, extra in (("passenger,trip,billing,notification", ["--http", f"127.0.0.1:{port}"]),
                            ("dispatcher,driver", ["--instances", "driver=3"])):
            procs.append(start("run", "interlink.examples.taxi.app:app", "--broker", url, "--only", only, "--json",
                               *extra, env=env))
        for proc in procs:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()
            assert line, f"exit {proc.wait(10)}: {proc.stderr.read()[-3000:]}"
            assert json.loads(line)["app"] == "taxi"
        token = jwt.encode({"sub": "p-pg", "aud": "taxi-phone", "exp": int(time.time()) + 300},
                           "taxi-demo-secret-change-me-in-production", algorithm="HS256")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0,
                          headers={"authorization": f"Bearer {token}"}) as http:
            for n in range(3):
                ride = {"ride_id": f"run-pg-{n}", "pickup": {"lat": 52.52, "lon": 13.40},
                        "dropoff": {"lat": 52.50, "lon": 13.45}, "requested_at": time.time()}
                assert http.post("/rides", json=ride).status_code == 202

        async def settled() -> bool:
            captured = await rows(schema, "SELECT ride_id FROM {s}.taxi_captures")
            return len(captured) >= 3
        deadline = time.monotonic() + 30
        while not await settled() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        codes = [stop(proc) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        assert stop(broker) == 0  # SIGTERM: the broker stops its nats-server too
    assert codes == [0, 0], [p.stderr.read()[-2000:] for p in procs if p.stderr]
    found = await rows(schema, "SELECT ride_id, status, driver_id FROM {s}.taxi_rides ORDER BY ride_id")
    assert [(r["ride_id"], r["status"]) for r in found] == [(f"run-pg-{n}", "driver_proposed") for n in range(3)]
    assert all(r["driver_id"] for r in found)  # written by the trip side from the other process's proposal
    captures = await rows(schema, "SELECT ride_id, count(*) AS n FROM {s}.taxi_captures GROUP BY 1 ORDER BY 1")
    assert [(c["ride_id"], c["n"]) for c in captures] == [(f"run-pg-{n}", 1) for n in range(3)]
    assert await rows(schema, "SELECT id FROM {s}.interlink_outbox WHERE relayed IS NULL") == []
