"""``interlink dlq``: list, show, replay and purge dead letters (through ``bus.dead_letters``)."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rich.table import Table

import interlink
from interlink._dead import DeadLetters
from interlink._errors import DeadLetterNotFound
from interlink.cli._common import FAILED, OK, USAGE, Commands, broker_url, common_options, console, errors, print_json


def add(sub: Commands) -> None:
    p = sub.add_parser("dlq", help="manage the dead-letter channel")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    common = [common_options(defaults=False)]  # --broker, --json, -v after the action too
    listing = actions.add_parser("list", help="list dead letters, oldest first", parents=common)
    _filters(listing)
    listing.set_defaults(func=dlq_list)
    show = actions.add_parser("show", help="show one dead letter", parents=common)
    show.add_argument("id")
    show.set_defaults(func=dlq_show)
    replay = actions.add_parser("replay", help="send dead letters back to their original subject", parents=common)
    replay.add_argument("id", nargs="?")
    replay.add_argument("--all", action="store_true", help="every dead letter matching the filters")
    _filters(replay)
    replay.set_defaults(func=dlq_replay)
    purge = actions.add_parser("purge", help="remove dead letters (all, or those matching the filters)",
                               parents=common)
    _filters(purge)
    purge.set_defaults(func=dlq_purge)


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--service", help="only those the service SERVICE gave up on")
    p.add_argument("--subject", help="only those whose subject matches this pattern (* and > allowed)")
    p.add_argument("--code", help="only those that failed with this error code")


@asynccontextmanager
async def _dead_letters(args: argparse.Namespace) -> AsyncIterator[DeadLetters]:
    async with interlink.connect(broker_url(args.broker, embedded_ok=False), name="cli") as bus:
        yield bus.dead_letters


async def dlq_list(args: argparse.Namespace) -> int:
    async with _dead_letters(args) as dead:
        letters = await dead.list(service=args.service, subject=args.subject, code=args.code)
    if args.json:
        print_json([d.to_dict(body=False) for d in letters])
        return OK
    table = Table("id", "subject", "service", "attempts", "code", "reason", title=f"{len(letters)} dead letter(s)")
    for d in letters:
        table.add_row(d.id, d.subject, d.service, str(d.attempts), d.code, d.reason[:80])
    console.print(table)
    return OK


async def dlq_show(args: argparse.Namespace) -> int:
    async with _dead_letters(args) as dead:
        try:
            letter = await dead.get(args.id)
        except DeadLetterNotFound as exc:
            errors.print(f"[bold red]error:[/] {exc}")
            return FAILED
    if args.json:
        print_json(letter.to_dict())
    else:
        console.print_json(data=letter.to_dict())
    return OK


async def dlq_replay(args: argparse.Namespace) -> int:
    if not args.all and not args.id:
        errors.print("[bold red]error:[/] give a dead letter id, or --all")
        return USAGE
    async with _dead_letters(args) as dead:
        if args.all:
            count = await dead.replay_all(service=args.service, subject=args.subject, code=args.code)
        else:
            try:
                await dead.replay(args.id)
            except DeadLetterNotFound as exc:
                errors.print(f"[bold red]error:[/] {exc}")
                return FAILED
            count = 1
    if args.json:
        print_json({"replayed": count, "removed": count})
    else:
        console.print(f"replayed {count} dead letter(s)")
    return OK if count else FAILED


async def dlq_purge(args: argparse.Namespace) -> int:
    async with _dead_letters(args) as dead:
        removed = await dead.purge(service=args.service, subject=args.subject, code=args.code)
    if args.json:
        print_json({"removed": removed})
    else:
        console.print(f"removed {removed} dead letter(s)")
    return OK
