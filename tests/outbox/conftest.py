"""PostgreSQL for the outbox tests: the machine's server (trust auth, database ``test``), one schema per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from interlink.outbox import init_schema
from interlink.testing import unique
from tests.conftest import require_broker

POSTGRES_DSN = os.environ.get("INTERLINK_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def dsn() -> str:
    require_broker(POSTGRES_DSN.replace("postgresql://postgres@", "tcp://"), "PostgreSQL")
    return POSTGRES_DSN


@pytest.fixture
async def schema(dsn: str) -> AsyncIterator[str]:
    """A fresh schema with the outbox tables, dropped after the test."""
    import asyncpg

    name = unique("ob").replace("-", "_").replace(".", "_").lower()
    await init_schema(dsn, name)
    yield name
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    finally:
        await conn.close()
