"""``python -m bench.dashboard_overhead``: does watching the system slow it down?

A NATS server of its own; in this process one service (an echo endpoint and a
durable notification endpoint) and a client. Each round measures, alternately
without and with ``interlink dashboard`` running in its own process on the same
broker (tapping every message, asking the registry once a second) and a viewer
following its flow stream:

* requests: 50 in flight for ``--seconds``: requests per second, p50/p99;
* notifications: ``--notes`` sent 200 at a time, until all are handled: per second;
* CPU per message (requests and notifications together, each request counted with
  its reply) of the services' process, of the NATS server and of the dashboard.

Throughput on a busy shared machine moves with everyone else's load; CPU per
message does much less, and it is what "no work in the services" means: the
services' CPU per message must be the same with and without the dashboard. Rounds
alternate so that a change of load hits both sides; medians of ``--rounds``.

    python -m bench.dashboard_overhead --rounds 3 --seconds 5 --notes 5000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from typing import Any

import interlink
from interlink import Service
from interlink._embedded import NatsServer, free_port


def _service() -> tuple[Service, list[int]]:
    svc = Service("bench-watched")
    handled = [0]

    @svc.endpoint("bench-watched.echo", durable=False)
    async def echo(body: Any) -> Any:
        return body

    @svc.endpoint("bench-watched.note", max_concurrency=200)
    async def note(body: Any) -> None:
        handled[0] += 1

    return svc, handled


async def _requests(bus: interlink.Bus, seconds: float) -> tuple[float, float, float]:
    latencies: list[float] = []
    end = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < end:
            t = time.perf_counter()
            await bus.request("bench-watched.echo", {"n": 1})
            latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(50)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return len(latencies) / elapsed, latencies[len(latencies) // 2] * 1e3, latencies[int(len(latencies) * .99)] * 1e3


async def _notes(bus: interlink.Bus, handled: list[int], count: int) -> float:
    start_count = handled[0]
    started = time.perf_counter()
    for i in range(0, count, 200):
        await asyncio.gather(*(bus.notify("bench-watched.note", {"n": n}) for n in range(i, min(count, i + 200))))
    while handled[0] - start_count < count:
        await asyncio.sleep(0.005)
    return count / (time.perf_counter() - started)


def _cpu_seconds(pid: int | None = None) -> float:
    if pid is None:
        return time.process_time()
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Watching:
    """``interlink dashboard`` on the broker, and a viewer reading its flow stream."""

    def __init__(self, url: str, extra: list[str]) -> None:
        self.port = port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "interlink.cli", "dashboard", "--broker", url, "--port",
                                      str(port), *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        self.proc.stdout.readline()
        self.viewer = subprocess.Popen(["curl", "-sN", f"http://127.0.0.1:{port}/events/flow"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200:
                    break
            time.sleep(0.1)

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as answer:
            return dict(json.loads(answer.read()))

    def cpu(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        for proc in (self.viewer, self.proc):
            proc.terminate()
            proc.wait(10)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard_overhead")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--notes", type=int, default=5000)
    parser.add_argument("--dashboard", nargs=argparse.REMAINDER, default=[],
                        help="options for interlink dashboard (e.g. --tap-budget 500), last on the line")
    args = parser.parse_args(argv)
    server = NatsServer().start()
    figures: dict[bool, list[tuple[float, ...]]] = {False: [], True: []}
    try:
        async with interlink.connect(server.url, name="bench-service") as served, \
                interlink.connect(server.url, name="bench-client") as client:
            svc, handled = _service()
            await served.serve(svc)
            await _requests(client, 1.0)  # warm-up
            for round_ in range(args.rounds):
                for watched in ((False, True) if round_ % 2 == 0 else (True, False)):  # order changes too
                    watching = Watching(server.url, args.dashboard) if watched else None
                    await asyncio.sleep(2.0)  # the dashboard's first samples (or as long a pause without)
                    assert server.process is not None
                    cpu = (_cpu_seconds(), _cpu_seconds(server.process.pid), watching.cpu() if watching else 0.0)
                    rate, p50, p99 = await _requests(client, args.seconds)
                    messages = rate * args.seconds * 2 + args.notes
                    notes = await _notes(client, handled, args.notes)
                    used = (_cpu_seconds() - cpu[0], _cpu_seconds(server.process.pid) - cpu[1],
                            (watching.cpu() - cpu[2]) if watching else 0.0)
                    if watching is not None:
                        health = watching.health()
                        print(f"  dashboard heard {health['heard']:,} messages, listening 1 s in {health['sampling']}")
                        watching.stop()
                    per = [u / messages * 1e6 for u in used]
                    figures[watched].append((rate, p50, p99, notes, *per))
                    print(f"{'with' if watched else 'without'} dashboard: {rate:,.0f} req/s p50 {p50:.2f} ms "
                          f"p99 {p99:.2f} ms, {notes:,.0f} notifications/s; CPU µs per message: services+client "
                          f"{per[0]:.1f}, nats-server {per[1]:.1f}, dashboard {per[2]:.1f}", flush=True)
    finally:
        server.cleanup()
    for watched in (False, True):
        rows = figures[watched]
        m = [statistics.median(r[i] for r in rows) for i in range(7)]
        print(f"median {'with' if watched else 'without'}: {m[0]:,.0f} req/s, p50 {m[1]:.2f} ms, p99 {m[2]:.2f} ms, "
              f"{m[3]:,.0f} notifications/s; CPU µs/message: services+client {m[4]:.1f}, nats-server {m[5]:.1f}, "
              f"dashboard {m[6]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
