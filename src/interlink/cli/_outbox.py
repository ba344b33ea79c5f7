"""``interlink outbox``: create the outbox tables, run a relay, clean up.

    interlink outbox init --dsn postgresql://127.0.0.1/test [--schema S]
    interlink outbox relay --dsn ... --broker nats://...   # until Ctrl-C; run it in as many processes as you like
    interlink outbox cleanup --dsn ... --retention 604800

The DSN defaults to $INTERLINK_DSN.
"""

from __future__ import annotations

import argparse
import asyncio
import os

import interlink
from interlink.cli._common import OK, USAGE, Commands, _fail, broker_url, console, print_json


def add(sub: Commands) -> None:
    p = sub.add_parser("outbox", help="transactional outbox on PostgreSQL: init, relay, cleanup")
    p.add_argument("action", choices=["init", "relay", "cleanup"])
    p.add_argument("--dsn", default=None, help="PostgreSQL DSN (default: $INTERLINK_DSN)")
    p.add_argument("--schema", default="public", help="schema of the outbox tables (default: public)")
    p.add_argument("--retention", type=float, default=7 * 86_400.0,
                   help="seconds relayed and inbox rows are kept (default: 7 days)")
    p.set_defaults(func=outbox, serving=False)


async def outbox(args: argparse.Namespace) -> int:
    from interlink.outbox import Outbox, describe_dsn, init_schema

    dsn = args.dsn or os.environ.get("INTERLINK_DSN")
    if not dsn:
        return _fail(USAGE, "no database: pass --dsn DSN or set INTERLINK_DSN")
    if args.action == "init":
        await init_schema(dsn, args.schema)
        if args.json:
            print_json({"schema": args.schema, "created": True})
        else:
            console.print(f"outbox and inbox tables ready in schema {args.schema!r} at {describe_dsn(dsn)}")
        return OK
    async with interlink.connect(broker_url(args.broker, embedded_ok=False), name="outbox") as bus, \
            Outbox(bus, dsn, schema=args.schema) as box:
        if args.action == "cleanup":
            relayed, handled = await box.cleanup(args.retention)
            if args.json:
                print_json({"outbox": relayed, "inbox": handled})
            else:
                console.print(f"deleted {relayed} relayed outbox rows and {handled} inbox rows")
            return OK
        await box.start_relay(retention=args.retention)
        console.print(f"relaying the outbox at {describe_dsn(dsn)} (Ctrl-C stops)")
        await asyncio.Event().wait()
    return OK
