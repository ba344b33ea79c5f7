"""The sides under test and the workloads that drive them, identical for every side.

A side serves an echo endpoint and a subscription on its broker, with its own
client library, and offers ``request`` and ``publish`` the way its users
would call them. Every side decodes the small JSON payload on receipt, so the
subscriber's work is the same everywhere. Server and client use separate
connections, as two processes would, but share this process's event loop.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from typing import Any, Literal

from bench._stats import Figure

Payload = dict[str, Any]
DurableMode = Literal["durable-publish", "durable-notify"]
DURABLE_MODES: tuple[DurableMode, ...] = ("durable-publish", "durable-notify")

STALL = 5.0  # seconds without a new message before a pub/sub run gives up
REQUEST_TIMEOUT = 5.0


def payload(seq: int) -> Payload:
    """The small JSON body of every test (about 90 bytes encoded)."""
    return {"seq": seq, "t": time.perf_counter(), "from": "bench", "text": "hello interlink", "ok": True}


class Sink:
    """Counts the messages a subscriber receives and their publish-to-receive latency."""

    def __init__(self) -> None:
        self.expected = 0
        self.count = 0
        self.last = 0.0
        self.latencies: list[float] = []
        self.done = asyncio.Event()

    def arm(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.latencies = []
        self.done = asyncio.Event()

    def hit(self, body: Payload) -> None:
        now = time.perf_counter()
        self.count += 1
        self.last = now
        self.latencies.append(now - body["t"])
        if self.count >= self.expected:
            self.done.set()


class Side(abc.ABC):
    """One framework or client on one broker. ``start`` sets up the echo endpoint and the subscriber."""

    name: str = "side"
    tests: frozenset[str] = frozenset({"req1", "req50", "pubsub"})

    @abc.abstractmethod
    async def start(self, sink: Sink) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def request(self, body: Payload) -> Payload:
        raise NotImplementedError(f"{self.name} has no request/response test")

    async def publish(self, body: Payload) -> None:
        raise NotImplementedError(f"{self.name} has no publish test")

    async def flush(self) -> None:
        """Push out anything the client buffers after a burst of publishes."""
        return None


async def _drive(side: Side, n: int, inflight: int, latencies: list[float] | None) -> int:
    """``n`` requests by ``inflight`` concurrent callers; returns the number that failed."""
    next_seq = 0
    errors = 0

    async def caller() -> None:
        nonlocal next_seq, errors
        perf = time.perf_counter
        while next_seq < n:
            seq = next_seq
            next_seq += 1
            start = perf()
            try:
                reply = await side.request(payload(seq))
            except Exception:
                errors += 1
                continue
            if latencies is not None:
                latencies.append(perf() - start)
            if reply.get("seq") != seq:
                errors += 1

    await asyncio.gather(*(caller() for _ in range(inflight)))
    return errors


async def run_requests(side: Side, broker: str, test: str, n: int, inflight: int, warmup: int) -> Figure:
    await _drive(side, warmup, inflight, None)
    latencies: list[float] = []
    cpu = time.process_time()
    start = time.perf_counter()
    errors = await _drive(side, n, inflight, latencies)
    seconds = time.perf_counter() - start
    figure = Figure.from_latencies(broker, test, side.name, n, len(latencies) - errors, seconds, latencies, errors)
    figure.cpu_us = (time.process_time() - cpu) / n * 1e6
    return figure


async def _burst(side: Side, sink: Sink, n: int) -> tuple[float, int]:
    """Publish ``n`` as fast as one publisher may; wait until all arrive or the flow stalls."""
    sink.arm(n)
    start = time.perf_counter()
    errors = 0
    for seq in range(n):
        try:
            await side.publish(payload(seq))
        except Exception:
            errors += 1
    await side.flush()
    seen = -1
    while not sink.done.is_set() and sink.count != seen:
        seen = sink.count
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sink.done.wait(), STALL)
    return (sink.last - start if sink.count else time.perf_counter() - start), errors


async def run_pubsub(side: Side, sink: Sink, broker: str, test: str, n: int, warmup: int) -> Figure:
    await _burst(side, sink, warmup)
    cpu = time.process_time()
    seconds, errors = await _burst(side, sink, n)
    cpu_us = (time.process_time() - cpu) / n * 1e6
    note = "" if sink.count >= n else "incomplete"
    figure = Figure.from_latencies(broker, test, side.name, n, min(sink.count, n), seconds, sink.latencies, errors,
                                   note)
    figure.cpu_us = cpu_us
    return figure
