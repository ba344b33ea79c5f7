"""``interlink demo``: the taxi application end to end, with figures per style.

Starts the embedded broker (or uses --broker), serves every taxi service (3
drivers) each on a bus of its own, plays N rides from simulated phones, and
prints per style the message count and p50/p99 latency and the message
sequence of one ride. Exits 0 only if every ride completed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from typing import Any

from rich.table import Table

import interlink
from interlink.cli._common import FAILED, OK, Commands, broker_url, console, errors, number, print_json


def add(sub: Commands) -> None:
    p = sub.add_parser("demo", help="run the taxi-hailing demo and print figures per style")
    p.add_argument("--rides", type=number(int, 1), default=20)
    p.add_argument("--drivers", type=number(int, 1), default=3)
    p.add_argument("--concurrency", type=number(int, 1), default=5, help="rides requested at once")
    p.add_argument("--timeout", type=number(float, 0.001), default=30.0, help="seconds for all rides to complete")
    p.add_argument("--http-rides", type=number(int, 0), default=4,
                   help="rides that go through the API gateway over HTTP (0: none)")
    p.add_argument("--instances", type=number(int, 1), default=1,
                   help="instances of every service but the drivers, each on a bus of its own")
    p.add_argument("--dsn", default=os.environ.get("INTERLINK_DSN"),
                   help="keep the services' state in PostgreSQL, messages through its outbox "
                        "(default $INTERLINK_DSN; none: in this process)")
    p.add_argument("--schema", default="taxi", help="PostgreSQL schema of the tables (with --dsn)")
    p.add_argument("--capture-delay", type=number(float, 0), default=1.0,
                   help="seconds from a driver's proposal to the (delayed) payment capture")
    p.set_defaults(func=demo)


async def demo(args: argparse.Namespace) -> int:
    import interlink.examples.taxi.app as taxi
    from interlink.examples.taxi import store as taxi_store
    from interlink.examples.taxi.messages import Place, RideRequest
    from interlink.examples.taxi.services import settings
    from interlink.examples.taxi.telemetry import STYLES, recorder

    recorder.reset()
    url = broker_url(args.broker, embedded_ok=True)
    buses: list[interlink.Bus] = []
    from interlink.examples.taxi.phone import phone, waiting

    done = waiting
    done.clear()

    async def bus() -> interlink.Bus:
        b = await interlink.connect(url, name="phone").start()
        buses.append(b)
        return b

    settings.capture_delay = args.capture_delay
    store: Any = taxi_store.MemoryStore()
    try:
        store = await _open_store(args, await bus())
        taxi_store.use(store)
        counts = {**taxi.DEFAULT_INSTANCES, "driver": args.drivers}
        counts.update({svc.name: args.instances for svc in taxi.app.services if svc.name != "driver"})
        for svc in taxi.app.services:
            for _ in range(counts.get(svc.name, 1)):
                await (await bus()).serve(svc)
        client = await bus()
        await client.serve(phone)
        if not args.json:
            console.print(f"[bold]taxi demo[/]: {args.rides} rides, {args.drivers} drivers, broker "
                          f"{url or 'embedded nats-server'}")
        started = time.monotonic()
        gate = asyncio.Semaphore(max(1, args.concurrency))

        async def ride(n: int) -> None:
            ride_id = f"r{n:04d}-{uuid.uuid4().hex[:6]}"
            done[ride_id] = asyncio.get_running_loop().create_future()
            async with gate:
                await client.notify("trip.request", RideRequest(
                    ride_id, f"p{n % 7}", Place(52.52 + n / 1000, 13.40), Place(52.50, 13.45), time.time()))
                await asyncio.wait_for(asyncio.shield(done[ride_id]), args.timeout)

        results = await asyncio.gather(*(ride(n) for n in range(args.rides)), return_exceptions=True)
        elapsed = time.monotonic() - started
        http = await _http_part(args, client, taxi, recorder)
        proposed = [rid for rid, f in done.items() if f.done() and not f.cancelled() and not f.exception()
                    and f.result().kind == "driver_proposed"]
        captures = await _captures(store, proposed, args.capture_delay + args.timeout)
    finally:
        await store.close()
        taxi_store.use(taxi_store.MemoryStore())
        for b in reversed(buses):
            await b.close(grace=2.0)
    completed = [rid for rid, f in done.items() if f.done() and not f.cancelled()]
    failed = [r for r in results if isinstance(r, BaseException)]
    _report(args, recorder, STYLES, completed, elapsed, http, captures)
    http_ok = http is None or http["completed"] == http["rides"]
    captured = captures["captured"] == captures["expected"] and captures["most_per_ride"] <= 1
    return OK if len(completed) == args.rides and not failed and http_ok and captured else FAILED


async def _open_store(args: argparse.Namespace, bus: interlink.Bus) -> Any:
    """Dicts in this process, or (with a DSN) PostgreSQL tables and its outbox, relayed on ``bus``."""
    from interlink.examples.taxi.store import MemoryStore

    if not args.dsn:
        return MemoryStore()
    from interlink.examples.taxi.store_pg import PostgresStore

    return await PostgresStore.open(bus, args.dsn, schema=args.schema, relays=args.instances)


async def _captures(store: Any, ride_ids: list[str], timeout: float) -> dict[str, Any]:
    """Wait until the (delayed) payment capture of every ride happened; then drain the outbox."""
    deadline = time.monotonic() + timeout
    while True:
        counts = await store.captures()
        captured = sum(1 for rid in ride_ids if rid in counts)
        if captured == len(ride_ids) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    while await store.pending() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return {"expected": len(ride_ids), "captured": captured, "most_per_ride": max(counts.values(), default=0),
            "store": type(store).__name__, "outbox_pending": await store.pending()}


async def _http_part(args: argparse.Namespace, bus: interlink.Bus, taxi: Any, recorder: Any) -> dict[str, Any] | None:
    if args.http_rides <= 0:
        return None
    try:
        from interlink.cli._demo_http import run_http_rides
    except ImportError as exc:  # the gateway extra is not installed
        errors.print(f"[yellow]skipping the HTTP part: {exc} (pip install 'interlink[gateway]')[/]")
        return None
    return await run_http_rides(bus, args.http_rides, taxi.app.services, taxi.GATEWAY, recorder)


def _percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _report(args: argparse.Namespace, recorder: Any, styles: tuple[str, ...], completed: list[str],
            elapsed: float, http: dict[str, Any] | None, captures: dict[str, Any]) -> None:
    rows: list[dict[str, Any]] = []
    for style in styles:
        values = recorder.latencies.get(style, [])
        rows.append({
            "style": style, "messages": len(values),
            "p50_ms": round(_percentile(values, 50) * 1000, 2) if values else None,
            "p99_ms": round(_percentile(values, 99) * 1000, 2) if values else None,
        })
    sample = completed[0] if completed else next(iter(recorder.steps), None)
    steps = sorted(recorder.steps.get(sample, []), key=lambda s: s.at) if sample else []
    if args.json:
        print_json({"rides": args.rides, "completed": len(completed), "seconds": round(elapsed, 3),
                    "http": http, "captures": captures, "styles": rows, "sequence": [
                        {"t_ms": round((s.at - steps[0].at) * 1000, 2), "style": s.style, "from": s.sender,
                         "to": s.receiver, "subject": s.subject} for s in steps]})
        return
    table = Table("style", "messages", "p50 ms", "p99 ms", title="latency per interaction style")
    for row in rows:
        table.add_row(row["style"], str(row["messages"]), f"{row['p50_ms']}", f"{row['p99_ms']}")
    console.print(table)
    if steps:
        seq = Table("t ms", "style", "from", "to", "subject", title=f"message sequence of ride {sample}")
        for s in steps:
            seq.add_row(f"{(s.at - steps[0].at) * 1000:7.2f}", s.style, s.sender, s.receiver, s.subject)
        console.print(seq)
    colour = "green" if len(completed) == args.rides else "red"
    console.print(f"[bold {colour}]{len(completed)}/{args.rides} rides completed[/] in {elapsed:.2f}s")
    colour = "green" if captures["captured"] == captures["expected"] and captures["most_per_ride"] <= 1 else "red"
    console.print(f"[bold {colour}]{captures['captured']}/{captures['expected']} payments captured[/] "
                  f"(delayed {args.capture_delay:g}s; at most {captures['most_per_ride']} per ride; "
                  f"state in {captures['store']})")
    if http is not None:
        colour = "green" if http["completed"] == http["rides"] else "red"
        lat = sorted(http["latency_ms"])
        median = f", request to driver proposal p50 {lat[len(lat) // 2]} ms" if lat else ""
        console.print(f"[bold {colour}]{http['completed']}/{http['rides']} rides through the API gateway[/] "
                      f"(HTTP: {http['status_codes']}{median})")
        for error in http.get("errors", []):
            console.print(f"[red]  {error}[/]")
