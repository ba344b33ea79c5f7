"""Processes for the outbox fault tests.

    python -m tests.outbox.procs writer URL DSN SCHEMA SUBJECT OUTDIR START COUNT [--relay]
    python -m tests.outbox.procs relay URL DSN SCHEMA BATCH
    python -m tests.outbox.procs inbox URL DSN SCHEMA SERVICE SUBJECT OUTDIR

writer: COUNT transactions, each inserting a row and writing one notification of its number; every
tenth rolls back. A number goes to OUTDIR/committed (or rolledback) only after its transaction ended,
so whatever is listed committed is committed. --relay runs a relay in the same process.
relay: a relay until killed. inbox: a service whose handler records its effect and the incoming message
id in one transaction; a body "die" SIGKILLs the process after the commit, before the acknowledgement.
Each prints "ready" once it runs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import interlink
from interlink import Context, Service
from interlink.outbox import Outbox


class Rollback(Exception):
    pass


def ready() -> None:
    sys.stdout.write("ready\n")
    sys.stdout.flush()


async def writer(url: str, dsn: str, schema: str, subject: str, outdir: str, start: int, count: int,
                 relay: bool) -> None:
    out = Path(outdir)
    async with interlink.connect(url, name="writer") as bus, Outbox(bus, dsn, schema=schema) as outbox:
        if relay:
            await outbox.start_relay()
        ready()
        with open(out / "committed", "a", buffering=1) as committed, open(out / "rolledback", "a",
                                                                           buffering=1) as rolled:
            for n in range(start, start + count):
                try:
                    async with outbox.transaction() as tx:
                        await tx.connection.execute(f"INSERT INTO {schema}.writes (n) VALUES ($1)", n)
                        await tx.notify(subject, n)
                        if n % 10 == 3:
                            raise Rollback
                except Rollback:
                    rolled.write(f"{n}\n")
                else:
                    committed.write(f"{n}\n")


async def relay(url: str, dsn: str, schema: str, batch: int) -> None:
    async with interlink.connect(url, name="relay") as bus, Outbox(bus, dsn, schema=schema) as outbox:
        await outbox.start_relay(batch=batch)
        ready()
        await asyncio.Event().wait()


async def inbox(url: str, dsn: str, schema: str, service: str, subject: str, outdir: str) -> None:
    svc = Service(service)
    out = Path(outdir)
    async with interlink.connect(url, name=service) as bus, Outbox(bus, dsn, schema=schema) as outbox:
        @svc.endpoint(subject, ack_wait=2.0)
        async def apply(body: Any, ctx: Context) -> None:
            async with outbox.transaction(ctx) as tx:
                if tx.duplicate:
                    with open(out / "duplicates", "a") as dup:
                        dup.write(f"{ctx.message_id}\n")
                    return
                await tx.connection.execute(f"INSERT INTO {schema}.effects (message_id) VALUES ($1)",
                                            ctx.message_id)
            if body == "die":  # committed; the acknowledgement never goes out
                os.kill(os.getpid(), signal.SIGKILL)

        await bus.serve(svc)
        ready()
        await asyncio.Event().wait()


def main() -> None:
    role, *args = sys.argv[1:]
    if role == "writer":
        url, dsn, schema, subject, outdir, start, count = args[:7]
        asyncio.run(writer(url, dsn, schema, subject, outdir, int(start), int(count), "--relay" in args))
    elif role == "relay":
        url, dsn, schema, batch = args
        asyncio.run(relay(url, dsn, schema, int(batch)))
    else:
        asyncio.run(inbox(*args))


if __name__ == "__main__":
    main()
