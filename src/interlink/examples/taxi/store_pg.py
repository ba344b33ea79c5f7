"""The taxi services' state in PostgreSQL, their messages through the outbox, their inbox.

``await PostgresStore.open(bus, dsn, schema="taxi")`` creates the tables when they are
missing (the outbox's and these), starts the outbox relays on ``bus`` and returns the store;
``store.use(it)`` makes the taxi handlers of this process use it. Needs ``interlink[postgres]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from interlink import Bus, Context
from interlink.examples.taxi.messages import Assignment, Payment, RideRequest
from interlink.examples.taxi.store import Ride, Unit
from interlink.outbox import Outbox, Transaction, init_schema
from interlink.outbox._schema import create_once

TABLES = """
CREATE TABLE IF NOT EXISTS {s}.taxi_rides (
    ride_id text PRIMARY KEY, passenger_id text NOT NULL, status text NOT NULL, driver_id text,
    request jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.taxi_payments (
    ride_id text PRIMARY KEY, amount_cents integer NOT NULL, authorised boolean NOT NULL,
    captured boolean NOT NULL DEFAULT false);
CREATE TABLE IF NOT EXISTS {s}.taxi_assignments (
    ride_id text PRIMARY KEY, driver_id text NOT NULL, eta_seconds double precision NOT NULL,
    offers integer NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.taxi_captures (
    id bigserial PRIMARY KEY, ride_id text NOT NULL, amount_cents integer NOT NULL,
    captured_at timestamptz NOT NULL DEFAULT now());
"""


class PostgresStore:
    """Tables ``taxi_rides``, ``taxi_payments``, ``taxi_assignments``, ``taxi_captures`` in ``schema``."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.schema = outbox.schema

    @classmethod
    async def open(cls, bus: Bus, dsn: str, *, schema: str = "public", relays: int = 1) -> PostgresStore:
        await init_schema(dsn, schema)
        outbox = await Outbox(bus, dsn, schema=schema).start()
        async with outbox.pool.acquire() as conn:
            await create_once(conn, TABLES.format(s=outbox.schema))
        for _ in range(relays):
            await outbox.start_relay()
        return cls(outbox)

    @asynccontextmanager
    async def unit(self, ctx: Context | None = None) -> AsyncIterator[Unit]:
        async with self.outbox.transaction(ctx) as tx:
            yield _PostgresUnit(tx, self.schema)

    async def captures(self) -> dict[str, int]:
        async with self.outbox.pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT ride_id, count(*) AS n FROM {self.schema}.taxi_captures GROUP BY 1")
        return {row["ride_id"]: row["n"] for row in rows}

    async def pending(self) -> int:
        async with self.outbox.pool.acquire() as conn:
            n: int = await conn.fetchval(f"SELECT count(*) FROM {self.outbox.table} WHERE relayed IS NULL")
        return n

    async def close(self) -> None:
        await self.outbox.close()


class _PostgresUnit:
    """One transaction: SQL on the outbox transaction's connection, messages written in it."""

    def __init__(self, tx: Transaction, schema: str) -> None:
        self.tx = tx
        self.sql: Any = tx.connection
        self.s = schema

    @property
    def duplicate(self) -> bool:
        return self.tx.duplicate

    async def ride(self, ride_id: str) -> Ride | None:
        row = await self.sql.fetchrow(
            f"SELECT status, driver_id, request::text FROM {self.s}.taxi_rides WHERE ride_id = $1 FOR UPDATE",
            ride_id)
        if row is None:
            return None
        return Ride(msgspec.json.decode(row["request"], type=RideRequest),
                    row["status"], row["driver_id"])

    async def save_ride(self, ride: Ride) -> None:
        await self.sql.execute(
            f"INSERT INTO {self.s}.taxi_rides (ride_id, passenger_id, status, driver_id, request) "
            "VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (ride_id) DO UPDATE "
            "SET status = EXCLUDED.status, driver_id = EXCLUDED.driver_id",
            ride.request.ride_id, ride.request.passenger_id, ride.status, ride.driver_id,
            msgspec.json.encode(ride.request).decode())

    async def payment(self, ride_id: str) -> Payment | None:
        row = await self.sql.fetchrow(
            f"SELECT amount_cents, authorised, captured FROM {self.s}.taxi_payments WHERE ride_id = $1 FOR UPDATE",
            ride_id)
        return None if row is None else Payment(ride_id, row["amount_cents"], row["authorised"], row["captured"])

    async def save_payment(self, payment: Payment) -> None:
        await self.sql.execute(
            f"INSERT INTO {self.s}.taxi_payments (ride_id, amount_cents, authorised, captured) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (ride_id) DO UPDATE SET amount_cents = EXCLUDED.amount_cents, "
            "authorised = EXCLUDED.authorised, captured = EXCLUDED.captured",
            payment.ride_id, payment.amount_cents, payment.authorised, payment.captured)

    async def capture(self, payment: Payment) -> None:
        await self.sql.execute(f"UPDATE {self.s}.taxi_payments SET captured = true WHERE ride_id = $1",
                               payment.ride_id)
        await self.sql.execute(f"INSERT INTO {self.s}.taxi_captures (ride_id, amount_cents) VALUES ($1, $2)",
                               payment.ride_id, payment.amount_cents)

    async def assignment(self, ride_id: str) -> Assignment | None:
        row = await self.sql.fetchrow(
            f"SELECT driver_id, eta_seconds, offers FROM {self.s}.taxi_assignments WHERE ride_id = $1", ride_id)
        return None if row is None else Assignment(ride_id, row["driver_id"], row["eta_seconds"], row["offers"])

    async def save_assignment(self, assignment: Assignment) -> None:
        await self.sql.execute(
            f"INSERT INTO {self.s}.taxi_assignments (ride_id, driver_id, eta_seconds, offers) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (ride_id) DO UPDATE SET driver_id = EXCLUDED.driver_id, "
            "eta_seconds = EXCLUDED.eta_seconds, offers = EXCLUDED.offers",
            assignment.ride_id, assignment.driver_id, assignment.eta_seconds, assignment.offers)

    async def notify(self, subject: str, body: Any, *, key: str | None = None, delay: float | None = None) -> None:
        await self.tx.notify(subject, body, key=key, delay=delay)

    async def send(self, subject: str, body: Any, *, reply_to: str, key: str | None = None) -> None:
        await self.tx.send(subject, body, reply_to=reply_to, key=key)

    async def publish(self, subject: str, body: Any, *, key: str | None = None) -> None:
        await self.tx.publish(subject, body, key=key)
