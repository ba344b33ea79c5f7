"""The outbox and inbox on PostgreSQL, relayed to the memory broker (the relay is broker-agnostic;
tests/outbox/test_outbox_faults.py runs it against NATS with real processes)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest

import interlink
from interlink import BrokerError, Context, Service
from interlink.cli import main as cli
from interlink.outbox import Outbox
from interlink.testing import unique
from interlink.testing.conformance import dead_letters_of, eventually


def collector() -> tuple[Service, str, list[Any]]:
    svc, subject = Service(unique("svc")), unique()
    got: list[Any] = []

    @svc.endpoint(subject, max_concurrency=1)
    async def note(body: Any, ctx: Context) -> None:
        got.append(body)

    return svc, subject, got


async def test_committed_messages_are_relayed_rolled_back_ones_never(dsn: str, schema: str) -> None:
    svc, subject, got = collector()
    async with interlink.connect(f"memory://{unique()}") as bus, Outbox(bus, dsn, schema=schema) as outbox:
        await bus.serve(svc)
        await outbox.start_relay()
        async with outbox.transaction() as tx:
            await tx.notify(subject, "committed")
            await tx.publish(f"{subject}.event", {"n": 1})
        with pytest.raises(RuntimeError):
            async with outbox.transaction() as tx:
                await tx.notify(subject, "rolled back")
                raise RuntimeError("the business logic failed")
        await eventually(lambda: got == ["committed"])
        await asyncio.sleep(0.3)
        assert got == ["committed"]
        async with outbox.pool.acquire() as conn:
            assert await conn.fetchval(f"SELECT count(*) FROM {schema}.interlink_outbox WHERE relayed IS NULL") == 0


async def test_the_inbox_makes_the_effect_happen_once(dsn: str, schema: str) -> None:
    svc, subject = Service(unique("svc")), unique()
    duplicates: list[str] = []

    async with interlink.connect(f"memory://{unique()}") as bus, Outbox(bus, dsn, schema=schema) as outbox:
        async with outbox.pool.acquire() as conn:
            await conn.execute(f"CREATE TABLE {schema}.charges (id serial, amount int)")

        @svc.endpoint(subject)
        async def charge(amount: int, ctx: Context) -> None:
            async with outbox.transaction(ctx) as tx:
                if tx.duplicate:
                    duplicates.append(ctx.message_id)
                    return
                await tx.connection.execute(f"INSERT INTO {schema}.charges (amount) VALUES ($1)", amount)

        await bus.serve(svc)
        fixed_id = unique("msg")
        for _ in range(3):  # the same message delivered three times (a redelivery after a crash, say)
            await bus.notify(subject, 42, headers={"il-id": fixed_id})
        await eventually(lambda: len(duplicates) == 2)
        async with outbox.pool.acquire() as conn:
            assert await conn.fetchval(f"SELECT count(*) FROM {schema}.charges") == 1
            assert await conn.fetchval(f"SELECT count(*) FROM {schema}.interlink_inbox") == 1


async def test_two_relays_keep_the_order_of_each_key(dsn: str, schema: str) -> None:
    svc, subject, got = collector()
    broker = f"memory://{unique()}"
    async with interlink.connect(broker) as bus, interlink.connect(broker) as other, \
            Outbox(bus, dsn, schema=schema) as outbox, Outbox(other, dsn, schema=schema) as second:
        await bus.serve(svc)
        keys = [f"k{i}" for i in range(20)]
        for n in range(6):  # written before the relays start: both find a backlog
            async with outbox.transaction() as tx:
                for key in keys:
                    await tx.notify(subject, [key, n], key=key)
        await asyncio.gather(outbox.start_relay(batch=7), second.start_relay(batch=7))
        await eventually(lambda: len(got) == 120, timeout=20)
        for key in keys:
            assert [n for k, n in got if k == key] == list(range(6))
        relays = outbox._relays + second._relays
        await eventually(lambda: sum(r.relayed for r in relays) >= 120)  # counted once its round committed
        assert sum(r.relayed for r in relays) == 120  # none sent twice
        assert all(r.relayed > 0 for r in relays), [r.relayed for r in relays]


async def test_a_row_that_does_not_decode_is_dead_lettered_and_the_relay_goes_on(dsn: str, schema: str) -> None:
    svc, subject, got = collector()
    async with interlink.connect(f"memory://{unique()}") as bus, Outbox(bus, dsn, schema=schema) as outbox:
        await bus.serve(svc)
        async with outbox.transaction() as tx:
            await tx.notify(subject, "before")
            await tx.connection.execute(
                f"INSERT INTO {schema}.interlink_outbox (message_id, kind, subject, headers, body) "
                "VALUES ('bad1', 'send', $1, '{\"content-type\": \"application/json\"}', $2)", subject, b"\xff{no")
            await tx.notify(subject, "after")
        await outbox.start_relay()
        await eventually(lambda: got == ["before", "after"])
        await eventually(lambda: outbox._relays[0].failed == 1)
        dead = await dead_letters_of(bus, "outbox")
        assert [m.headers["il-id"] for m in dead] == ["bad1"]
        assert "cannot be relayed" in dead[0].headers["il-dead-reason"]
        async with outbox.pool.acquire() as conn:
            assert await conn.fetchval(f"SELECT failure FROM {schema}.interlink_outbox WHERE message_id = 'bad1'")


async def test_a_delayed_message_through_the_outbox(dsn: str, schema: str) -> None:
    svc, subject = Service(unique("svc")), unique()
    arrivals: list[float] = []

    @svc.endpoint(subject)
    async def later(_: Any, ctx: Context) -> None:
        arrivals.append(time.time() - float(ctx.headers["il-due"]))

    async with interlink.connect(f"memory://{unique()}") as bus, Outbox(bus, dsn, schema=schema) as outbox:
        await bus.serve(svc)
        await outbox.start_relay()
        async with outbox.transaction() as tx:
            await tx.notify(subject, 1, delay=1.0)
            with pytest.raises(ValueError):
                await tx.notify(subject, 1, delay=-1)
        await eventually(lambda: len(arrivals) == 1, timeout=10)
        assert -0.05 <= arrivals[0] <= 1.0


async def test_cleanup_deletes_rows_past_retention(dsn: str, schema: str) -> None:
    async with interlink.connect(f"memory://{unique()}") as bus, Outbox(bus, dsn, schema=schema) as outbox:
        async with outbox.pool.acquire() as conn:
            await conn.execute(f"INSERT INTO {schema}.interlink_outbox (message_id, kind, subject, headers, body, "
                               "relayed) VALUES ('old', 'send', 'x', '{}', ''::bytea, now() - interval '2 days'), "
                               "('new', 'send', 'x', '{}', ''::bytea, now())")
            await conn.execute(f"INSERT INTO {schema}.interlink_inbox (consumer, message_id, handled) VALUES "
                               "('s:x', 'old', now() - interval '2 days'), ('s:x', 'new', now())")
        assert await outbox.cleanup(86_400) == (1, 1)
        assert await outbox.cleanup(86_400) == (0, 0)


async def test_a_database_that_cannot_be_reached_names_host_and_database() -> None:
    async with interlink.connect(f"memory://{unique()}") as bus:
        with pytest.raises(BrokerError, match=r"127\.0\.0\.1:1 database 'nowhere'"):
            await Outbox(bus, "postgresql://postgres@127.0.0.1:1/nowhere").start()
        with pytest.raises(ValueError):
            Outbox(bus, "postgresql://x/y", schema="bad-name; drop")


async def test_missing_tables_say_how_to_create_them(dsn: str) -> None:
    async with interlink.connect(f"memory://{unique()}") as bus:
        with pytest.raises(BrokerError, match="interlink outbox init"):
            await Outbox(bus, dsn, schema="no_such_schema_here").start()


def test_cli_init_creates_the_tables(dsn: str) -> None:
    name = unique("cli").lower()
    assert cli(["outbox", "init", "--dsn", dsn, "--schema", name]) == 0
    assert cli(["outbox", "init", "--dsn", dsn, "--schema", name]) == 0  # idempotent

    async def check() -> bool:
        conn = await asyncpg.connect(dsn)
        try:
            found = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{name}.interlink_outbox")
            await conn.execute(f"DROP SCHEMA {name} CASCADE")
            return bool(found)
        finally:
            await conn.close()

    assert asyncio.run(check())
    assert cli(["outbox", "init", "--dsn", "postgresql://postgres@127.0.0.1:1/nowhere"]) == 5
