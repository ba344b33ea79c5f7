"""``interlink services`` (who is running) and ``interlink top`` (live rates, latency, errors per endpoint).

    interlink services [--service NAME] [--within SECONDS] [--json]
    interlink top [--service NAME] [--interval SECONDS]

Both ask every bus on the broker (``bus.services()``); ``top`` asks again each
``--interval`` and shows, per service and handler subject (all instances
added up), the messages handled per second, their mean handling time over
the interval, the errors in it, the handlings in flight and the totals.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Iterable

import msgspec
from rich.console import Console
from rich.live import Live
from rich.table import Table

import interlink
from interlink._registry import HandlerInfo, InstanceInfo
from interlink.cli._common import OK, Commands, broker_url, console, print_json


def add(sub: Commands) -> None:
    p = sub.add_parser("services", help="list the running service instances, their endpoints and stats")
    p.add_argument("--service", default=None, help="only this service")
    p.add_argument("--within", type=float, default=0.5, help="seconds to wait for answers")
    p.set_defaults(func=services)
    p = sub.add_parser("top", help="live rates, latency and errors per endpoint, refreshed each second")
    p.add_argument("--service", default=None, help="only this service")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    p.add_argument("--iterations", type=int, default=0, help="stop after N refreshes (0: until Ctrl-C)")
    p.set_defaults(func=top)


async def services(args: argparse.Namespace) -> int:
    async with interlink.connect(broker_url(args.broker, embedded_ok=False), name="cli") as bus:
        found = await bus.services(within=args.within, service=args.service)
    if args.json:
        print_json(msgspec.to_builtins(found))
    else:
        console.print(services_table(found))
    return OK


def services_table(found: list[InstanceInfo]) -> Table:
    """One row per handler of each instance: kind ``ep`` (endpoint) or ``sub`` (subscription), the
    handlings so far, those that failed, their mean time in ms, and those running now."""
    table = Table(title=f"{len(found)} instance(s)", title_justify="left")
    for column in ("service", "instance", "up", "kind", "subject", "handled", "errors", "ms", "now"):
        numeric = column in ("up", "handled", "errors", "ms", "now")
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for info in found:
        first = True
        handlers: list[HandlerInfo | None] = [*info.endpoints, *info.subscriptions]
        for h in handlers or [None]:
            head = [f"{info.service} {info.version}", info.id, _uptime(info.uptime)] if first else ["", "", ""]
            first = False
            if h is None:
                table.add_row(*head, "", "", "", "", "", "")
                continue
            table.add_row(*head, "ep" if h.kind == "endpoint" else "sub", h.subject, str(h.num_requests),
                          str(h.num_errors), f"{h.average_processing_time / 1e6:.2f}", str(h.in_flight))
    return table


def _uptime(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


Key = tuple[str, str, str]  # service, kind, subject


def _totals(found: Iterable[InstanceInfo]) -> dict[Key, tuple[int, int, int, int, int]]:
    """Per service and handler: handled, errors, processing ns, in flight, instances."""
    totals: dict[Key, tuple[int, int, int, int, int]] = {}
    for info in found:
        for h in [*info.endpoints, *info.subscriptions]:
            key = (info.service, h.kind, h.subject)
            n, e, t, f, i = totals.get(key, (0, 0, 0, 0, 0))
            totals[key] = (n + h.num_requests, e + h.num_errors, t + h.processing_time, f + h.in_flight, i + 1)
    return totals


def top_table(before: dict[Key, tuple[int, int, int, int, int]], now: dict[Key, tuple[int, int, int, int, int]],
              seconds: float) -> Table:
    """The rates between two looks, ``seconds`` apart."""
    title = f"interlink top — {time.strftime('%H:%M:%S')}, rates over the last {seconds:.1f}s"
    table = Table(title=title, title_justify="left")
    for column in ("service", "kind", "subject", "inst", "msg/s", "mean ms", "err/s", "now", "handled", "errors"):
        table.add_column(column, justify="left" if column in ("service", "kind", "subject") else "right",
                         overflow="fold")
    for key in sorted(now):
        n, e, t, f, i = now[key]
        n0, e0, t0, _, _ = before.get(key, (n, e, t, 0, 0))
        dn, de, dt = max(0, n - n0), max(0, e - e0), max(0, t - t0)
        mean = f"{dt / dn / 1e6:.2f}" if dn else "-"
        service, kind, subject = key
        table.add_row(service, "ep" if kind == "endpoint" else "sub", subject, str(i), f"{dn / seconds:.1f}", mean,
                      f"{de / seconds:.1f}", str(f), str(n), str(e), style="red" if de else None)
    return table


async def top(args: argparse.Namespace, out: Console | None = None) -> int:
    interval = max(0.1, args.interval)
    async with interlink.connect(broker_url(args.broker, embedded_ok=False), name="cli") as bus:
        before = _totals(await bus.services(within=min(0.5, interval / 2), service=args.service))
        seen = time.monotonic()
        with Live(top_table(before, before, interval), console=out or console, refresh_per_second=4,
                  auto_refresh=False) as live:
            count = 0
            while not args.iterations or count < args.iterations:
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - seen)))
                now = _totals(await bus.services(within=min(0.5, interval / 2), service=args.service))
                at = time.monotonic()
                live.update(top_table(before, now, at - seen), refresh=True)
                before, seen = now, at
                count += 1
    return OK



