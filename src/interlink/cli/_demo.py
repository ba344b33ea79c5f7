"""``interlink demo``: the taxi application end to end, with figures per style.

Starts the embedded broker (or uses --broker), serves every taxi service (3
drivers) each on a bus of its own, plays N rides from simulated phones, and
prints per style the message count and p50/p99 latency and the message
sequence of one ride. Exits 0 only if every ride completed.
"""

from __future__ import annotations

import argparse
import asyncio
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
    p.set_defaults(func=demo)


async def demo(args: argparse.Namespace) -> int:
    import interlink.examples.taxi.app as taxi
    from interlink.examples.taxi.messages import Place, RideRequest
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

    try:
        counts = {**taxi.DEFAULT_INSTANCES, "driver": args.drivers}
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
    finally:
        for b in reversed(buses):
            await b.close(grace=2.0)
    completed = [rid for rid, f in done.items() if f.done() and not f.cancelled()]
    failed = [r for r in results if isinstance(r, BaseException)]
    _report(args, recorder, STYLES, completed, elapsed, http)
    http_ok = http is None or http["completed"] == http["rides"]
    return OK if len(completed) == args.rides and not failed and http_ok else FAILED


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
            elapsed: float, http: dict[str, Any] | None) -> None:
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
                    "http": http, "styles": rows, "sequence": [
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
    if http is not None:
        colour = "green" if http["completed"] == http["rides"] else "red"
        lat = sorted(http["latency_ms"])
        median = f", request to driver proposal p50 {lat[len(lat) // 2]} ms" if lat else ""
        console.print(f"[bold {colour}]{http['completed']}/{http['rides']} rides through the API gateway[/] "
                      f"(HTTP: {http['status_codes']}{median})")
        for error in http.get("errors", []):
            console.print(f"[red]  {error}[/]")
