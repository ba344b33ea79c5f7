"""``interlink dlq``: list, show, replay and purge dead letters."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.table import Table

import interlink
from interlink import _headers as h
from interlink._bus import Bus
from interlink.cli._common import FAILED, OK, Commands, broker_url, console, errors, print_json
from interlink.transports.base import Message


def add(sub: Commands) -> None:
    p = sub.add_parser("dlq", help="manage the dead-letter channel")
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="list dead letters, oldest first").set_defaults(func=dlq_list)
    show = actions.add_parser("show", help="show one dead letter")
    show.add_argument("id")
    show.set_defaults(func=dlq_show)
    replay = actions.add_parser("replay", help="send dead letters back to their original subject")
    replay.add_argument("id", nargs="?")
    replay.add_argument("--all", action="store_true")
    replay.set_defaults(func=dlq_replay)
    actions.add_parser("purge", help="remove every dead letter").set_defaults(func=dlq_purge)


def describe(message: Message) -> dict[str, Any]:
    headers = message.headers
    try:
        body: Any = json.loads(message.body)
    except (ValueError, UnicodeDecodeError):
        body = message.body.decode("utf-8", "replace")
    return {
        "id": headers.get(h.MESSAGE_ID, ""),
        "subject": headers.get(h.DEAD_SUBJECT, message.subject),
        "service": headers.get(h.DEAD_SERVICE, ""),
        "attempts": int(headers.get(h.DEAD_ATTEMPTS, "0") or 0),
        "reason": headers.get(h.DEAD_REASON, ""),
        "headers": headers,
        "body": body,
    }


async def _letters(args: argparse.Namespace) -> tuple[Bus, list[Message]]:
    bus = await interlink.connect(broker_url(args.broker, embedded_ok=False), name="cli").start()
    return bus, await bus.transport.dead_letters()


async def dlq_list(args: argparse.Namespace) -> int:
    bus, letters = await _letters(args)
    await bus.close()
    rows = [describe(m) for m in letters]
    if args.json:
        print_json([{k: v for k, v in row.items() if k not in ("headers", "body")} for row in rows])
        return OK
    table = Table("id", "subject", "service", "attempts", "reason", title=f"{len(rows)} dead letter(s)")
    for row in rows:
        table.add_row(row["id"], row["subject"], row["service"], str(row["attempts"]), row["reason"][:80])
    console.print(table)
    return OK


async def dlq_show(args: argparse.Namespace) -> int:
    bus, letters = await _letters(args)
    await bus.close()
    for message in letters:
        if message.headers.get(h.MESSAGE_ID) == args.id:
            row = describe(message)
            if args.json:
                print_json(row)
            else:
                console.print_json(data=row)
            return OK
    errors.print(f"[bold red]error:[/] no dead letter with id {args.id!r}")
    return FAILED


async def dlq_replay(args: argparse.Namespace) -> int:
    if not args.all and not args.id:
        errors.print("[bold red]error:[/] give a dead letter id, or --all")
        return FAILED
    bus, letters = await _letters(args)
    chosen = [m for m in letters if args.all or m.headers.get(h.MESSAGE_ID) == args.id]
    try:
        for message in chosen:
            await replay(bus, message)
        removed = await bus.transport.remove_dead_letters({m.headers.get(h.MESSAGE_ID, "") for m in chosen})
    finally:
        await bus.close()
    if args.json:
        print_json({"replayed": len(chosen), "removed": removed})
    else:
        console.print(f"replayed {len(chosen)} dead letter(s)")
    return OK if chosen else FAILED


async def replay(bus: Bus, message: Message) -> None:
    """Back to the original subject with its original headers, under a new message id
    (so that broker-side dedup and idempotent handlers do not drop it)."""
    headers = {k: v for k, v in message.headers.items() if not k.startswith("il-dead-")}
    headers["il-replay-of"] = headers.get(h.MESSAGE_ID, "")
    headers[h.MESSAGE_ID] = h.new_id()
    subject = message.headers.get(h.DEAD_SUBJECT, message.subject)
    again = Message(subject, message.body, headers)
    if message.headers.get(h.DEAD_KIND) == "subscription":
        await bus.transport.publish(again, durable=True)
    else:
        await bus.transport.send(again)


async def dlq_purge(args: argparse.Namespace) -> int:
    bus = await interlink.connect(broker_url(args.broker, embedded_ok=False), name="cli").start()
    try:
        removed = await bus.transport.remove_dead_letters(None)
    finally:
        await bus.close()
    if args.json:
        print_json({"removed": removed})
    else:
        console.print(f"removed {removed} dead letter(s)")
    return OK
