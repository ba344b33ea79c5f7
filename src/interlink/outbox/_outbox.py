"""The write side: messages written in the caller's transaction, and the inbox record of a handler."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from interlink import _headers as h
from interlink._delay import due_time
from interlink._errors import BrokerError
from interlink._subjects import check_subject
from interlink.outbox._schema import check_schema, create_pool

if TYPE_CHECKING:
    from interlink._bus import Bus
    from interlink._context import Context
    from interlink.outbox._relay import Relay

log = logging.getLogger("interlink.outbox")

CHANNEL = "interlink_outbox"  # LISTEN/NOTIFY channel that wakes the relays after a commit


class Outbox:
    """Transactional outbox and inbox on PostgreSQL, for one bus.

        outbox = await Outbox(bus, "postgresql://127.0.0.1/test").start()
        await outbox.start_relay()                  # in any number of processes

        async with outbox.transaction() as tx:      # plain code: a gateway route, a script
            await tx.connection.execute("INSERT INTO trips ...")
            await tx.publish("trip.created", event, key=trip_id)

        @billing.endpoint("billing.charge")         # a handler: its effect once per message id
        async def charge(req: Charge, ctx: Context) -> None:
            async with outbox.transaction(ctx) as tx:
                if tx.duplicate:
                    return                          # handled before: acknowledged, nothing done
                await tx.connection.execute("INSERT INTO charges ...")
                await tx.notify("billing.capture", req, delay=900)

    Messages are relayed after commit and never when the transaction rolls back.
    ``start()`` raises BrokerError when PostgreSQL cannot be reached (naming host and
    database) or the tables are missing (run ``interlink outbox init --dsn DSN``).
    """

    def __init__(self, bus: Bus, dsn: str, *, schema: str = "public", pool_size: int = 10) -> None:
        self.bus = bus
        self.dsn = dsn
        self.schema = check_schema(schema)
        self.table = f"{self.schema}.interlink_outbox"
        self.inbox_table = f"{self.schema}.interlink_inbox"
        self.channel = CHANNEL if schema == "public" else f"{CHANNEL}_{schema}"
        self._pool_size = pool_size
        self.pool: Any = None
        self._relays: list[Relay] = []

    async def start(self) -> Outbox:
        if self.pool is None:
            pool = await create_pool(self.dsn, 1, self._pool_size)
            async with pool.acquire() as conn:
                missing = await conn.fetchval("SELECT to_regclass($1) IS NULL OR to_regclass($2) IS NULL",
                                              self.table, self.inbox_table)
            if missing:
                await pool.close()
                raise BrokerError(f"no outbox tables in schema {self.schema!r}: "
                                  f"run `interlink outbox init --dsn DSN --schema {self.schema}`")
            self.pool = pool
        return self

    async def close(self) -> None:
        relays, self._relays = self._relays, []
        for relay in relays:
            await relay.stop()
        pool, self.pool = self.pool, None
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> Outbox:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start_relay(self, *, batch: int = 100, retention: float = 7 * 86_400.0) -> Relay:
        """Relay committed messages from this process until :meth:`close` (several processes may)."""
        from interlink.outbox._relay import Relay

        relay = Relay(self, batch=batch, retention=retention)
        await relay.start()
        self._relays.append(relay)
        return relay

    @asynccontextmanager
    async def transaction(self, ctx: Context | None = None) -> AsyncIterator[Transaction]:
        """A database transaction that messages can be written in.

        With ``ctx`` (inside a handler) the incoming message's id is recorded in the inbox in the
        same transaction; ``tx.duplicate`` is then True when it was handled before (do nothing).
        Commits when the block ends, rolls back (messages and all) when it raises.
        """
        if self.pool is None:
            raise BrokerError("the outbox is not started (await outbox.start())")
        async with self.pool.acquire() as conn, conn.transaction():
            tx = Transaction(self, conn, ctx)
            if ctx is not None and ctx.message_id:
                inserted = await conn.fetchval(
                    f"INSERT INTO {self.inbox_table} (consumer, message_id) VALUES ($1, $2) "
                    "ON CONFLICT DO NOTHING RETURNING 1", f"{ctx.service}:{ctx.subject}", ctx.message_id)
                tx.duplicate = inserted is None
                if tx.duplicate:
                    log.info("%s: message %s on %s handled before (inbox): skipped", ctx.service, ctx.message_id,
                             ctx.subject)
            yield tx
            if tx.written:
                await conn.execute("SELECT pg_notify($1, '')", self.channel)  # delivered on commit

    async def cleanup(self, retention: float) -> tuple[int, int]:
        """Delete relayed outbox rows and inbox rows older than ``retention`` seconds; (outbox, inbox) counts."""
        if self.pool is None:
            raise BrokerError("the outbox is not started (await outbox.start())")
        async with self.pool.acquire() as conn:
            relayed = await conn.execute(
                f"DELETE FROM {self.table} WHERE relayed < now() - make_interval(secs => $1)", retention)
            handled = await conn.execute(
                f"DELETE FROM {self.inbox_table} WHERE handled < now() - make_interval(secs => $1)", retention)
        return int(relayed.split()[-1]), int(handled.split()[-1])


class Transaction:
    """One transaction of an :class:`Outbox`: run SQL on ``connection``, write messages with the methods.

    The methods take the same arguments as the bus's, plus ``key``: messages with the same key
    are relayed one after the other in the order written (across relays)::

        async with outbox.transaction() as tx:
            await tx.connection.execute("UPDATE rides SET state = 'ended' WHERE id = $1", ride_id)
            await tx.publish("ride.ended", {"ride_id": ride_id}, key=ride_id)
            await tx.notify("billing.capture", {"ride_id": ride_id}, delay=900)
    """

    __slots__ = ("_ctx", "_outbox", "connection", "duplicate", "written")

    def __init__(self, outbox: Outbox, connection: Any, ctx: Context | None) -> None:
        self._outbox = outbox
        self._ctx = ctx
        self.connection = connection
        self.duplicate = False
        self.written = 0

    async def notify(self, subject: str, body: Any = None, *, key: str | None = None, delay: float | None = None,
                     at: datetime | None = None, headers: dict[str, str] | None = None) -> str:
        return await self._write("send", subject, body, key, delay, at, headers)

    async def send(self, subject: str, body: Any = None, *, reply_to: str, key: str | None = None,
                   delay: float | None = None, at: datetime | None = None,
                   headers: dict[str, str] | None = None) -> str:
        check_subject(reply_to)
        return await self._write("send", subject, body, key, delay, at, headers, reply_to)

    async def publish(self, subject: str, body: Any = None, *, key: str | None = None, delay: float | None = None,
                      at: datetime | None = None, headers: dict[str, str] | None = None) -> str:
        return await self._write("publish", subject, body, key, delay, at, headers)

    async def _write(self, kind: str, subject: str, body: Any, key: str | None, delay: float | None,
                     at: datetime | None, headers: dict[str, str] | None, reply_to: str | None = None) -> str:
        bus = self._outbox.bus
        due = due_time(delay, at, bus.transport.max_delay)
        message = bus._envelope(subject, body, self._ctx, headers)
        message_id = message.headers[h.MESSAGE_ID]
        if reply_to is not None:
            message.headers[h.CORRELATION_ID] = message_id
            message.headers[h.REPLY_TO] = reply_to
        await self.connection.execute(
            f"INSERT INTO {self._outbox.table} (message_id, kind, subject, headers, body, order_key, due) "
            "VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)",
            message_id, kind, subject, json.dumps(message.headers), message.body, key, due)
        self.written += 1
        return message_id
