"""The taxi demo with its state in PostgreSQL, its messages through the outbox, 2 instances of every service.

``interlink demo`` runs as a process of its own on the embedded NATS broker; every service
instance (2 of trip, billing, dispatcher, passenger, notification; 3 drivers) is on a bus of
its own in that process, with 2 outbox relays; the state is shared through PostgreSQL only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
