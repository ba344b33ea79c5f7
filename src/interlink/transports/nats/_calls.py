"""The calls in flight on one connection: requests and JetStream publishes waiting for their reply.

Replies come back on one wildcard inbox subscription (as nats-py's ``request``
does), handed over from the read loop by :meth:`Calls.on_reply`. Timeouts share
one timer: a ``call_later`` and its cancel per call cost 5 µs with thousands
outstanding, a heap of deadlines swept at the earliest (and then at most every
``SWEEP`` seconds) 0.7 µs.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math

from interlink.transports.nats._client import parse_headers

SWEEP = 0.005  # timeouts are checked at most this often (they fire at most this late)

Reply = tuple[bytes, "dict[str, str] | None"]  # a reply's payload and headers
Waiting = asyncio.Future["Reply | None"]  # resolves to None when no reply came in time


class Calls:
    def __init__(self) -> None:
        self.pending: dict[str, Waiting] = {}
        self.prefix = ""  # the inbox prefix, "<inbox>."; a call's reply subject is prefix + token
        self._tokens = itertools.count(1)
        self._timeouts: list[tuple[float, str]] = []  # a heap of (deadline, token)
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweep_at = math.inf

    def open(self, timeout: float) -> tuple[str, Waiting]:
        """A new call: its token and the future of its reply (None after ``timeout``); close it after."""
        token = str(next(self._tokens))
        loop = asyncio.get_running_loop()
        future: Waiting = loop.create_future()
        self.pending[token] = future
        when = loop.time() + timeout
        timeouts = self._timeouts
        heapq.heappush(timeouts, (when, token))
        if len(timeouts) > 2 * len(self.pending) + 1024:  # mostly answered calls: drop those
            self._timeouts = timeouts = [entry for entry in timeouts if entry[1] in self.pending]
            heapq.heapify(timeouts)
        if when < self._sweep_at:
            self._arm(loop, when)
        return token, future

    def close(self, token: str) -> None:
        del self.pending[token]

    def on_reply(self, subject: bytes, reply: bytes, data: bytes, raw_headers: bytes | None) -> None:
        """The inbox subscription's direct handler."""
        future = self.pending.get(subject[len(self.prefix):].decode(errors="replace"))
        if future is not None and not future.done():  # else the caller gave up: dropped
            future.set_result((data, parse_headers(raw_headers) if raw_headers is not None else None))

    def fail(self, exc: BaseException) -> None:
        """Fail every call in flight with ``exc`` (the connection was lost)."""
        for future in self.pending.values():
            if not future.done():
                future.set_exception(exc)

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._sweeper, self._sweep_at = None, math.inf

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._sweep_at = when
        self._sweeper = loop.call_at(when, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        timeouts, pending = self._timeouts, self.pending
        while timeouts and timeouts[0][0] <= now:
            future = pending.get(heapq.heappop(timeouts)[1])
            if future is not None and not future.done():
                future.set_result(None)
        self._sweeper, self._sweep_at = None, math.inf
        if timeouts:
            self._arm(loop, max(timeouts[0][0], now + SWEEP))
