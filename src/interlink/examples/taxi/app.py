"""``interlink run interlink.examples.taxi.app:app`` runs every service of the taxi application,
and its gateway (the passenger phone's API) on http://127.0.0.1:8000 (``--http HOST:PORT``).

The state lives in this process by default; with ``INTERLINK_DSN`` set (and optionally
``TAXI_SCHEMA``, default ``taxi``) it lives in PostgreSQL tables with their outbox, shared by
every process running the app (``--only`` some services each), opened by the app's lifespan.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import interlink
from interlink.examples.taxi import store
from interlink.examples.taxi.services import billing, dispatcher, driver, notification, passenger, trip


@asynccontextmanager
async def state(bus: interlink.Bus) -> AsyncIterator[None]:
    """The taxi's store for this process: PostgreSQL when ``INTERLINK_DSN`` is set, else dicts here."""
    dsn = os.environ.get("INTERLINK_DSN")
    if not dsn:
        yield
        return
    from interlink.examples.taxi.store_pg import PostgresStore  # asyncpg: the postgres extra

    tables = await PostgresStore.open(bus, dsn, schema=os.environ.get("TAXI_SCHEMA", "taxi"))
    store.use(tables)
    try:
        yield
    finally:
        store.use(store.MemoryStore())
        await tables.close()


GATEWAY = Path(__file__).with_name("gateway.yaml")
app = interlink.App("taxi", services=[passenger, trip, billing, dispatcher, driver, notification], gateway=GATEWAY,
                    lifespan=state)
DEFAULT_INSTANCES = {"driver": 3}
