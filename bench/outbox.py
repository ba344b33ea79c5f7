"""The outbox relay and the inbox on NATS and PostgreSQL.

    python -m bench.outbox [--url nats://127.0.0.1:4222] [--dsn postgresql://postgres@127.0.0.1/test] [-n 5000]

1. plain durable notifications, 100 in flight: messages per second until all are handled;
2. the same number written to the outbox beforehand (100 per transaction), then relayed by one relay,
   and by two (each on its own connection): messages per second from the relays' start until all are handled;
3. the inbox: a handler inserting one row per message in a transaction, without and with the inbox
   record in that transaction; the difference per handled message.

Prints a markdown table for docs/benchmarks.md. Uses a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import asyncpg

import interlink
from interlink import Context, Service
from interlink.outbox import Outbox, init_schema


async def until(check: Any, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise TimeoutError("not all messages arrived")
        await asyncio.sleep(0.005)


def counter(name: str, subject: str) -> tuple[Service, list[int]]:
    svc = Service(name)
    got = [0]

    @svc.endpoint(subject, max_concurrency=128)
    async def note(_: Any) -> None:
        got[0] += 1

    return svc, got


async def plain(url: str, n: int, tag: str) -> float:
    svc, got = counter(f"benchplain{tag}", f"benchplain{tag}.n")
    async with interlink.connect(url) as bus:
        await bus.serve(svc)
        start = time.perf_counter()
        for first in range(0, n, 100):
            await asyncio.gather(*(bus.notify(f"benchplain{tag}.n", i) for i in range(first, min(first + 100, n))))
        await until(lambda: got[0] >= n)
        return n / (time.perf_counter() - start)


async def relayed(url: str, dsn: str, schema: str, n: int, relays: int, tag: str) -> float:
    subject = f"benchrelay{tag}{relays}.n"
    svc, got = counter(f"benchrelay{tag}{relays}", subject)
    async with interlink.connect(url) as bus, Outbox(bus, dsn, schema=schema) as outbox:
        await bus.serve(svc)
        for first in range(0, n, 100):
            async with outbox.transaction() as tx:
                for i in range(first, min(first + 100, n)):
                    await tx.notify(subject, i)
        others = [await interlink.connect(url).start() for _ in range(relays)]
        boxes = [await Outbox(other, dsn, schema=schema).start() for other in others]
        start = time.perf_counter()
        for box in boxes:
            await box.start_relay(batch=200)
        await until(lambda: got[0] >= n)
        rate = n / (time.perf_counter() - start)
        for box, other in zip(boxes, others, strict=True):
            await box.close()
            await other.close()
        return rate


def applier(name: str, subject: str, outbox: Outbox, schema: str, inbox: bool) -> tuple[Service, list[int]]:
    svc = Service(name)
    got = [0]

    @svc.endpoint(subject, max_concurrency=32)
    async def apply(i: int, ctx: Context) -> None:
        async with outbox.transaction(ctx if inbox else None) as tx:
            await tx.connection.execute(f"INSERT INTO {schema}.effects (n) VALUES ($1)", i)
        got[0] += 1

    return svc, got


async def inbox_cost(url: str, dsn: str, schema: str, n: int, tag: str) -> tuple[float, float]:
    rates = []
    for with_inbox in (False, True):
        name = f"benchinbox{tag}{int(with_inbox)}"
        async with interlink.connect(url) as bus, Outbox(bus, dsn, schema=schema) as outbox:
            svc, got = applier(name, f"{name}.n", outbox, schema, with_inbox)
            await bus.serve(svc)
            start = time.perf_counter()
            for first in range(0, n, 100):
                await asyncio.gather(*(bus.notify(f"{name}.n", i) for i in range(first, min(first + 100, n))))
            await until(lambda count=got: count[0] >= n)
            rates.append(n / (time.perf_counter() - start))
    return rates[0], rates[1]


async def main_async(url: str, dsn: str, n: int) -> None:
    tag = str(int(time.time()))
    schema = f"bench_outbox_{tag}"
    await init_schema(dsn, schema)
    conn = await asyncpg.connect(dsn)
    await conn.execute(f"CREATE TABLE {schema}.effects (n int)")
    try:
        rate_plain = await plain(url, n, tag)
        one = await relayed(url, dsn, schema, n, 1, tag)
        two = await relayed(url, dsn, schema, n, 2, tag)
        without, with_inbox = await inbox_cost(url, dsn, schema, n, tag)
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
    print(f"| what ({n:,} notifications, NATS + PostgreSQL 15) | msg/s |")
    print("|---|---:|")
    print(f"| plain durable notify, 100 in flight | {rate_plain:,.0f} |")
    print(f"| relayed from the outbox, one relay | {one:,.0f} |")
    print(f"| relayed from the outbox, two relays | {two:,.0f} |")
    print(f"| handled: one insert per message in a transaction | {without:,.0f} |")
    print(f"| handled: the same plus the inbox record | {with_inbox:,.0f} |")
    print(f"\ninbox cost: {1e6 / with_inbox - 1e6 / without:,.0f} us per handled message "
          f"(wall time at 32 handlers in flight)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="nats://127.0.0.1:4222")
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("-n", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(main_async(args.url, args.dsn, args.n))


if __name__ == "__main__":
    main()
