"""Talking to a running system: request, notify, publish, listen."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import interlink
from interlink._subjects import check_pattern
from interlink.cli._common import OK, Commands, broker_url, console, number, parse_json, print_json
from interlink.transports.base import Binding, Message


def add(sub: Commands) -> None:
    p = sub.add_parser("request", help="send a request and print the reply")
    p.add_argument("subject")
    p.add_argument("body", nargs="?", default="null", help="JSON body (default: null)")
    p.add_argument("--timeout", type=number(float, 0.001), default=5.0)
    p.set_defaults(func=request)
    for name, helptext in (("notify", "send a notification to an endpoint"),
                           ("publish", "publish an event to its subscribers")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("subject")
        p.add_argument("body", nargs="?", default="null", help="JSON body (default: null)")
        p.set_defaults(func=notify if name == "notify" else publish)
    p = sub.add_parser("listen", help="print every event published on PATTERN until Ctrl-C")
    p.add_argument("pattern", nargs="?", default=">")
    p.add_argument("--count", type=number(int, 0), default=0, help="stop after N messages")
    p.set_defaults(func=listen)


async def request(args: argparse.Namespace) -> int:
    body = parse_json(args.body)
    async with interlink.connect(broker_url(args.broker, embedded_ok=False), name="cli") as bus:
        reply = await bus.request(args.subject, body, timeout=args.timeout)
    if args.json:
        print_json(reply)
    else:
        console.print_json(data=reply)
    return OK


async def notify(args: argparse.Namespace) -> int:
    return await _fire(args, "notify")


async def publish(args: argparse.Namespace) -> int:
    return await _fire(args, "publish")


async def _fire(args: argparse.Namespace, style: str) -> int:
    """Notify or publish one message; print its id."""
    body = parse_json(args.body)
    async with interlink.connect(broker_url(args.broker, embedded_ok=False), name="cli") as bus:
        send = bus.notify if style == "notify" else bus.publish
        message_id = await send(args.subject, body)
    if args.json:
        print_json({"subject": args.subject, "message_id": message_id})
    else:
        console.print(f"sent [bold]{args.subject}[/] id={message_id}")
    return OK


async def listen(args: argparse.Namespace) -> int:
    check_pattern(args.pattern)
    done = asyncio.Event()
    seen = 0

    async def show(message: Message) -> None:
        nonlocal seen
        seen += 1
        _print_message(args.json, message)
        if args.count and seen >= args.count:
            done.set()

    async with interlink.connect(broker_url(args.broker, embedded_ok=False), name="cli") as bus:
        await bus.transport.consume(Binding("subscription", args.pattern, group=None), show)
        if not args.json:
            console.print(f"[dim]listening on {args.pattern} (Ctrl-C to stop)[/]")
        await done.wait()
    return OK


def _print_message(as_json: bool, message: Message) -> None:
    try:
        body: Any = json.loads(message.body) if message.body else None
    except (ValueError, UnicodeDecodeError):
        body = message.body.hex()
    if as_json:
        print_json({"subject": message.subject, "headers": message.headers, "body": body})
        return
    stamp = time.strftime("%H:%M:%S")
    console.print(f"[dim]{stamp}[/] [bold cyan]{message.subject}[/] "
                  f"from=[green]{message.headers.get('il-from', '?')}[/] "
                  f"id={message.headers.get('il-id', '?')[:12]} cid={message.headers.get('il-cid', '?')[:12]}")
    if body is None:
        console.print("[dim]null[/]")
    else:
        console.print_json(data=body)
