"""What headers cost on NATS: raw nats-py pub/sub with no headers, with interlink's five, with
interlink's faster header codec (the NATS transport's client class), with the same five
carried inside the payload instead (one msgspec MessagePack frame of headers and body), and
as the transport sends them: interlink's frame (``_frame``) through the client's direct
subscription and ``post`` (``_client``).

    python -m bench.nats_headers [--url nats://127.0.0.1:4222] [-n 50000]

It explains the gap between raw nats-py and interlink on the pub/sub figure:
every interlink message carries its envelope (id, correlation id, sender,
content type, trace) as NATS headers, and the raw side sends none.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.aio.client import __version__ as nats_version
from nats.aio.msg import Msg

from interlink.transports.nats._client import FastClient, parse_headers
from interlink.transports.nats._frame import frame, unframe

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode


def envelope() -> dict[str, str]:
    return {"il-id": os.urandom(16).hex(), "content-type": "application/json", "il-from": "bench-client",
            "il-cid": os.urandom(16).hex(), "traceparent": f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"}


_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder(tuple[dict[str, str], bytes]).decode


async def direct(url: str, n: int) -> tuple[float, float]:
    """Interlink's frame, published with ``post`` and received by a direct subscription."""
    server, client = FastClient(), FastClient()
    await server.connect(url)
    await client.connect(url)
    got = 0
    done = asyncio.Event()

    def on_event(subject: bytes, reply: bytes, data: bytes, raw: bytes | None) -> None:
        nonlocal got
        _, body, _ = unframe(data, parse_headers(raw) if raw is not None else None)
        _decode(body)
        got += 1
        if got == n:
            done.set()

    await server.subscribe_direct("bench.hdr.events", on_event)
    await server.flush()
    body = {"seq": 1, "t": 0.0, "from": "bench", "text": "hello interlink", "ok": True}
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        payload = frame(envelope(), _encode(body))
        assert payload is not None
        await client.post("bench.hdr.events", payload)
    await client.flush()
    await asyncio.wait_for(done.wait(), 60)
    rate, cpu_us = n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1e6
    for c in (server, client):
        await c.close()
    return rate, cpu_us


async def one(url: str, n: int, headers: bool, fast: bool, framed: bool = False) -> tuple[float, float]:
    """(messages received per second, CPU µs per message) for one publisher and one subscriber."""
    clients: list[Client] = []
    for _ in range(2):
        client = FastClient() if fast else Client()
        await client.connect(url)
        clients.append(client)
    server, client = clients
    got = 0
    done = asyncio.Event()

    async def on_event(msg: Msg) -> None:
        nonlocal got
        if framed:
            _, data = _unpack(msg.data)
            _decode(data)
        else:
            _decode(msg.data)
        got += 1
        if got == n:
            done.set()

    await server.subscribe("bench.hdr.events", cb=on_event)
    await server.flush()
    body = {"seq": 1, "t": 0.0, "from": "bench", "text": "hello interlink", "ok": True}
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        if framed:
            await client.publish("bench.hdr.events", _pack((envelope(), _encode(body))))
        else:
            await client.publish("bench.hdr.events", _encode(body), headers=envelope() if headers else None)
    await client.flush()
    await asyncio.wait_for(done.wait(), 60)
    rate, cpu_us = n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1e6
    for c in clients:
        await c.close()
    return rate, cpu_us


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.nats_headers", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="nats://127.0.0.1:4222")
    parser.add_argument("-n", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"nats-py {nats_version}: {args.n} messages, median of {args.repeat} runs")
    for label, headers, fast, framed in (("no headers", False, False, False),
                                         ("5 headers, nats-py", True, False, False),
                                         ("5 headers, interlink's codec", True, True, False),
                                         ("5 headers inside the payload", False, False, True)):
        runs = sorted([await one(args.url, args.n, headers, fast, framed) for _ in range(args.repeat)])
        rate, cpu_us = runs[len(runs) // 2]
        print(f"{label:30} {rate:>10,.0f} msg/s  {cpu_us:6.1f} µs CPU/msg")
    runs = sorted([await direct(args.url, args.n) for _ in range(args.repeat)])
    rate, cpu_us = runs[len(runs) // 2]
    print(f"{'5 in interlink frame, direct':30} {rate:>10,.0f} msg/s  {cpu_us:6.1f} µs CPU/msg")


if __name__ == "__main__":
    asyncio.run(main())
