"""The tables of the outbox and the inbox, and connecting to PostgreSQL with a clear error.

``interlink outbox init --dsn DSN [--schema S]`` creates them (idempotent)::

    interlink_outbox                         one row per message written in a transaction
      id          bigserial primary key      relay order
      message_id  text                       the message's il-id (dedup downstream)
      kind        text                       'send' (notify, send) or 'publish'
      subject     text
      headers     jsonb                      the envelope (il-* headers, traceparent)
      body        bytea                      encoded as the bus encodes it
      order_key   text, null                 rows of one key are relayed one after the other, in id order
      due         double precision, null     delayed: Unix time it is due
      created     timestamptz
      relayed     timestamptz, null          null: still to relay
      failure     text, null                 why a row could not be relayed (it was dead-lettered)

    interlink_inbox                          one row per message a handler handled
      consumer    text                       "service:subject" of the handler
      message_id  text                       primary key (consumer, message_id)
      handled     timestamptz
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from interlink._errors import BrokerError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

DDL = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.interlink_outbox (
    id          bigserial PRIMARY KEY,
    message_id  text NOT NULL,
    kind        text NOT NULL,
    subject     text NOT NULL,
    headers     jsonb NOT NULL,
    body        bytea NOT NULL,
    order_key   text,
    due         double precision,
    created     timestamptz NOT NULL DEFAULT now(),
    relayed     timestamptz,
    failure     text
);
CREATE INDEX IF NOT EXISTS interlink_outbox_pending ON {s}.interlink_outbox (id) WHERE relayed IS NULL;
CREATE INDEX IF NOT EXISTS interlink_outbox_key ON {s}.interlink_outbox (order_key, id) WHERE relayed IS NULL;
CREATE INDEX IF NOT EXISTS interlink_outbox_done ON {s}.interlink_outbox (relayed) WHERE relayed IS NOT NULL;
CREATE TABLE IF NOT EXISTS {s}.interlink_inbox (
    consumer    text NOT NULL,
    message_id  text NOT NULL,
    handled     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
CREATE INDEX IF NOT EXISTS interlink_inbox_handled ON {s}.interlink_inbox (handled);
"""


def check_schema(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"schema {name!r}: use 1-63 of [A-Za-z0-9_], not starting with a digit")
    return name


def describe_dsn(dsn: str) -> str:
    """``host:port database db`` of a DSN (URL or ``key=value`` form), for error messages (no password)::

        describe_dsn("postgresql://app:secret@db:5433/rides")   # "db:5433 database 'rides'"
    """
    if "://" in dsn:
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
        database = unquote(parts.path[1:]) if len(parts.path) > 1 else str(parts.username or "")
    else:
        fields: dict[str, str] = dict(re.findall(r"(\w+)\s*=\s*(\S+)", dsn))
        host, port = fields.get("host", "localhost"), int(fields.get("port", "5432"))
        database = fields.get("dbname", fields.get("user", ""))
    return f"{host}:{port} database {database!r}"


async def create_pool(dsn: str, min_size: int = 1, max_size: int = 10) -> Any:
    """An asyncpg pool; BrokerError naming host and database when it cannot connect."""
    try:
        import asyncpg
    except ImportError:
        raise BrokerError("the outbox needs asyncpg: pip install 'interlink[postgres]'") from None
    try:
        return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, timeout=5.0)
    except Exception as exc:
        raise BrokerError(f"cannot connect to PostgreSQL at {describe_dsn(dsn)}: "
                          f"{type(exc).__name__}: {exc}") from None


async def init_schema(dsn: str, schema: str = "public") -> None:
    """Create the outbox and inbox tables (and the schema) if they do not exist (``interlink outbox init``)::

        await init_schema("postgresql://127.0.0.1/test", schema="public")
    """
    pool = await create_pool(dsn, 1, 1)
    try:
        async with pool.acquire() as conn:
            await create_once(conn, DDL.format(s=check_schema(schema)))
    finally:
        await pool.close()


DDL_LOCK = 0x696E746C  # one advisory lock key for interlink's schema creation ("intl")


async def create_once(conn: Any, ddl: str) -> None:
    """Run ``ddl`` (``CREATE ... IF NOT EXISTS``) under a transaction-scoped advisory lock: PostgreSQL's
    ``IF NOT EXISTS`` is not safe against itself, so processes starting together would otherwise fail
    with a duplicate key in its catalogue."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", DDL_LOCK)
        await conn.execute(ddl)
