"""Delayed messages under load: does a large backlog of pending delayed messages slow ordinary traffic?

    python -m bench.delayed                       # every broker, 100,000 pending
    python -m bench.delayed --broker redis --pending 20000

For each broker (each one of the bench's own, on free ports; RabbitMQ is the
machine's, under a prefix of its own that is deleted afterwards) it measures:

1. ordinary durable notifications: N sent 100 at a time, the rate until all are handled,
   and the p50/p99 latency from send to handler;
2. the same after ``--pending`` delayed notifications (due in an hour) were scheduled,
   with the time scheduling them took;
3. the lateness of 20 short delayed messages (1-3 s) with the backlog still pending.

Prints a markdown table (one row per broker) for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import interlink
from interlink import Context, Service
from interlink._embedded import NatsServer, free_port

ORDINARY = 5_000
SHORT = 20


@dataclass
class Row:
    broker: str
    pending: int
    schedule_s: float
    before_rate: float
    before_p99_ms: float
    after_rate: float
    after_p99_ms: float
    late_max_s: float


@contextlib.asynccontextmanager
async def broker_url(name: str) -> AsyncIterator[str]:
    if name in ("nats", "nats-2.9"):
        binary = "/usr/sbin/nats-server" if name == "nats-2.9" else None
        server = NatsServer()
        if binary is not None:  # the machine's older server, on a port of its own
            server_dir = tempfile.mkdtemp(prefix="bench-nats-")
            port = free_port()
            proc = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", server_dir],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await asyncio.sleep(1.0)
            try:
                yield f"nats://127.0.0.1:{port}"
            finally:
                proc.terminate()
                proc.wait(10)
                shutil.rmtree(server_dir, ignore_errors=True)
            return
        server.start()
        try:
            yield server.url
        finally:
            server.cleanup()
    elif name == "redis":
        port = free_port()
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(0.5)
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)
    elif name == "rabbitmq":
        prefix = f"bench{int(time.time())}"
        try:
            yield f"amqp://guest:guest@127.0.0.1:5672/?prefix={prefix}"
        finally:
            await _delete_rabbit(prefix)
    else:
        yield "memory://bench-delayed"


async def _delete_rabbit(prefix: str) -> None:
    import aio_pika

    from interlink.transports.rabbitmq._topology import DELAY_TIERS_MS

    connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        for name in [f"{prefix}.delayed", *(f"{prefix}.delay.{ms}" for ms in DELAY_TIERS_MS)]:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(name)
            with contextlib.suppress(Exception):
                await channel.exchange_delete(name)
            with contextlib.suppress(Exception):
                await channel.close()


async def ordinary(bus: interlink.Bus, subject: str, latencies: list[float], count: int) -> float:
    latencies.clear()
    start = time.perf_counter()
    for first in range(0, count, 100):
        await asyncio.gather(*(bus.notify(subject, time.time()) for _ in range(min(100, count - first))))
    while len(latencies) < count:
        await asyncio.sleep(0.01)
    return count / (time.perf_counter() - start)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] * 1000 if len(values) > 1 else 0.0


async def run(name: str, pending: int) -> Row:
    svc = Service(f"benchdelayed{int(time.time())}")
    subject, delayed_subject = f"{svc.name}.plain", f"{svc.name}.later"
    latencies: list[float] = []
    lateness: list[float] = []

    @svc.endpoint(subject)
    async def plain(sent: float) -> None:
        latencies.append(time.time() - sent)

    @svc.endpoint(delayed_subject)
    async def later(_: Any, ctx: Context) -> None:
        lateness.append(time.time() - float(ctx.headers["il-due"]))

    async with broker_url(name) as url, interlink.connect(url) as bus:
        await bus.serve(svc)
        await ordinary(bus, subject, latencies, 500)  # warm-up
        before = await ordinary(bus, subject, latencies, ORDINARY)
        before_p99 = p99(latencies)
        started = time.perf_counter()
        for first in range(0, pending, 500):
            await asyncio.gather(*(bus.notify(delayed_subject, n, delay=3600.0)
                                   for n in range(first, min(first + 500, pending))))
        schedule_s = time.perf_counter() - started
        await asyncio.sleep(2.0)  # older NATS servers: the mover's first look at each pending message
        for n in range(SHORT):
            await bus.notify(delayed_subject, -n, delay=1.0 + 2.0 * n / SHORT)
        after = await ordinary(bus, subject, latencies, ORDINARY)
        after_p99 = p99(latencies)
        end = time.monotonic() + 30
        while len(lateness) < SHORT and time.monotonic() < end:
            await asyncio.sleep(0.05)
        late = max(lateness) if len(lateness) >= SHORT else float("inf")
    return Row(name, pending, schedule_s, before, before_p99, after, after_p99, late)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker", action="append", choices=["memory", "nats", "nats-2.9", "rabbitmq", "redis"])
    parser.add_argument("--pending", type=int, default=100_000)
    args = parser.parse_args()
    brokers = args.broker or ["memory", "nats", "nats-2.9", "rabbitmq", "redis"]
    print("| broker | pending | scheduling them | notify/s before | p99 before | notify/s with them pending "
          "| p99 with them | latest of 20 short delays |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in brokers:
        row = asyncio.run(run(name, args.pending))
        print(f"| {row.broker} | {row.pending:,} | {row.schedule_s:.1f} s | {row.before_rate:,.0f} | "
              f"{row.before_p99_ms:.1f} ms | {row.after_rate:,.0f} | {row.after_p99_ms:.1f} ms | "
              f"{row.late_max_s:.3f} s late |", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
