"""Raw Python NATS clients side by side on the core rows: nats-py, and natsio where it installs.

    python -m bench.nats_clients [--url nats://127.0.0.1:4222] [--repeat 3]

natsio 1.0.x needs Python 3.13, so this script imports nothing of interlink and
runs in any interpreter that has msgspec and nats-py (natsio is measured when it
imports). Each row: one echo responder (queue subscription) and a requester on a
second connection, or a publisher and a subscriber, as ``bench.nats_raw`` does;
the clients take turns in each round and the median round is printed with its
CPU µs per message (both connections are in this process).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode
BODY = {"seq": 1, "t": 0.0, "from": "bench", "text": "hello interlink", "ok": True}
Row = Callable[[str, int], Awaitable[float]]


async def _requests(request: Callable[[bytes], Awaitable[bytes]], n: int, inflight: int) -> None:
    left = n

    async def caller() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            _decode(await request(_encode(BODY)))

    await asyncio.gather(*(caller() for _ in range(inflight)))


async def _measure(test: str, n: int, request: Callable[[bytes], Awaitable[bytes]],
                   publish: Callable[[bytes], Awaitable[None]], flush: Callable[[], Awaitable[None]],
                   received: Callable[[], int]) -> tuple[float, float]:
    """(rate, CPU µs per message) of ``n`` after a warm-up of a tenth, on connections already set up."""
    for count in (max(50, n // 10), n):
        start, cpu = time.perf_counter(), time.process_time()
        if test == "pubsub":
            base = received()
            for _ in range(count):
                await publish(_encode(BODY))
            await flush()
            while received() - base < count:
                await asyncio.sleep(0.001)
        else:
            await _requests(request, count, 1 if test == "req1" else 50)
    return n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1e6


async def natspy(url: str, test: str, n: int) -> tuple[float, float]:
    import nats

    server, client = await nats.connect(url), await nats.connect(url)
    got = 0

    async def echo(msg: Any) -> None:
        await msg.respond(_encode(_decode(msg.data)))

    async def on_event(msg: Any) -> None:
        nonlocal got
        _decode(msg.data)
        got += 1

    await server.subscribe("bench.cl.echo", queue="q", cb=echo)
    await server.subscribe("bench.cl.events", cb=on_event)
    await server.flush()
    async def request(body: bytes) -> bytes:
        data: bytes = (await client.request("bench.cl.echo", body, timeout=5)).data
        return data

    async def publish(body: bytes) -> None:
        await client.publish("bench.cl.events", body)

    try:
        return await _measure(test, n, request, publish, client.flush, lambda: got)
    finally:
        await client.close()
        await server.close()


async def natsio_side(url: str, test: str, n: int) -> tuple[float, float]:
    import natsio  # type: ignore[import-not-found,unused-ignore]  # Python 3.13 only

    server, client = await natsio.connect(url), await natsio.connect(url)
    got = 0

    async def echo(msg: Any) -> None:
        await msg.respond(_encode(_decode(msg.data)))

    async def on_event(msg: Any) -> None:
        nonlocal got
        _decode(msg.data)
        got += 1

    server.subscribe("bench.cl.echo", queue="q", cb=echo)
    server.subscribe("bench.cl.events", cb=on_event)
    await server.flush()
    async def request(body: bytes) -> bytes:
        data: bytes = (await client.request("bench.cl.echo", body, timeout=5)).data
        return data

    async def publish(body: bytes) -> None:
        await client.publish("bench.cl.events", body)

    try:
        return await _measure(test, n, request, publish, client.flush, lambda: got)
    finally:
        await client.close()
        await server.close()


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.nats_clients", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="nats://127.0.0.1:4222")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sides: dict[str, Callable[[str, str, int], Awaitable[tuple[float, float]]]] = {"nats-py": natspy}
    try:
        import natsio

        sides[f"natsio {natsio.__version__}"] = natsio_side
    except ImportError as exc:
        print(f"natsio not measured: {exc}")
    counts = {"req1": 2000, "req50": 10000, "pubsub": 30000}
    for test, n in counts.items():
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        for _ in range(args.repeat):
            for name, side in sides.items():
                runs[name].append(await side(args.url, test, n))
        for name, figures in runs.items():
            rate, cpu_us = sorted(figures)[len(figures) // 2]
            print(f"{test:7} {name:14} {rate:>10,.0f}/s  {cpu_us:6.1f} µs CPU/msg")


if __name__ == "__main__":
    asyncio.run(main())
