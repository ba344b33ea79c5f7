"""``python -m bench.gateway_overhead``: the gateway's own CPU per request, with no server, network or broker.

The gateway's ASGI app is called in-process with a ready-made ``GET /echo/{x}``
scope; the transport answers every request at once with a canned reply. What is
left is the gateway's share of a request: the middleware stack, routing, input
mapping, the resilience policy, the envelope, the reply's decoding and the
response. ``--profile`` prints the functions where that time goes (cProfile).

    python -m bench.gateway_overhead             # CPU µs per request, best of 5 runs
    python -m bench.gateway_overhead --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from typing import Any

import interlink
from interlink.gateway import Gateway, load_config
from interlink.transports.base import Message
from interlink.transports.memory import MemoryTransport

_REPLY = b'{"echo":"hello"}'


class CannedTransport(MemoryTransport):
    """A memory transport whose requests are answered at once, without a service."""

    async def request(self, message: Message, timeout: float) -> Message:
        return Message(message.subject, _REPLY, {"content-type": "application/json"})


def _scope() -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": "/echo/hello", "raw_path": b"/echo/hello", "query_string": b"", "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {}}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _run(requests: int, runs: int, profile: bool) -> float:
    config = load_config(data={"name": "overhead", "routes": [
        {"name": "echo", "path": "/echo/{x}", "request": "bench.overhead.echo"}]})
    bus = interlink.Bus(CannedTransport("bench-overhead"), name="gateway")
    async with bus:
        gateway = await Gateway(config, bus).start()
        statuses: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        async def batch() -> float:
            started = time.process_time()  # CPU time: other processes on the machine do not count
            for _ in range(requests):
                await gateway(_scope(), _receive, send)
            return (time.process_time() - started) / requests * 1e6

        await batch()  # warm caches (decoders, label children, breakers)
        profiler = cProfile.Profile() if profile else None
        if profiler is not None:
            profiler.enable()
        best = min([await batch() for _ in range(runs)])
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        await gateway.close()
    if set(statuses) != {200}:
        raise RuntimeError(f"the gateway answered {sorted(set(statuses))}, expected 200 only")
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_overhead",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests per run")
    parser.add_argument("--runs", type=int, default=5, help="runs; the best is kept")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the runs")
    args = parser.parse_args(argv)
    micros = asyncio.run(_run(args.requests, args.runs, args.profile))
    print(f"gateway overhead: {micros:.1f} CPU µs per GET /echo/{{x}} request (best of {args.runs} x {args.requests})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
