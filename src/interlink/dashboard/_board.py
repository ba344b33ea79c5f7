"""The dashboard's live state: one broker connection, kept up with retries, sampled once a second.

The :class:`Board` connects (and reconnects) to the broker, taps its traffic into
a :class:`~interlink.dashboard._traffic.Traffic`, and every ``interval`` seconds
takes a sample: the registry (``bus.services()``), the backlog of durable
consumers, the number of dead letters, and from these and the traffic the flow
rows with their history. Views read the latest sample; SSE streams wait for the next.
Nothing here runs per message except the tap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import interlink
from interlink._errors import InterlinkError
from interlink.dashboard._flow import Flow
from interlink.dashboard._topology import Topology, topology
from interlink.dashboard._traffic import Traffic
from interlink.transports.base import Backlog, Subscription

if TYPE_CHECKING:
    from interlink._bus import Bus

log = logging.getLogger("interlink.dashboard")

RETRY_MAX = 10.0  # seconds between connection attempts, at most
REGISTRY_WAIT = 0.5  # seconds the registry's answers are collected
SLOW_EVERY = 2  # registry, backlog and dead letters: every this many samples
LETTERS = 1000  # dead letters read for the view, oldest first
TAP_BUDGET = 300.0  # messages a second the tap takes in full; above that it listens one second in N
MAX_EVERY = 30
EDGE_WINDOW = 5.0  # seconds edge rates are computed over (longer while sampling)


@dataclass(slots=True)
class Status:
    """The broker as the dashboard sees it: ``connected``, or why not and when the next try is."""

    url: str
    connected: bool = False
    message: str = "connecting"
    retry_at: float = 0.0
    since: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class Action:
    """An operator's action on dead letters, as recorded (shown on the page and logged)."""

    at: float
    who: str
    what: str
    outcome: str


class Board:
    """Connection, tap and samples for every view. ``await board.start()``; ``await board.close()``."""

    def __init__(self, broker_url: str | None, *, interval: float = 1.0, bus: Bus | None = None,
                 tap_budget: float = TAP_BUDGET) -> None:
        self.url = broker_url
        self.interval = interval
        self.status = Status(broker_url or "(INTERLINK_BROKER)")
        self.traffic = Traffic()
        self.flow = Flow()
        self.registry: list[Any] = []
        self.registry_available = True
        self.backlog: list[Backlog] = []
        self.letters: list[Any] = []  # the dead letters (interlink.DeadLetter), oldest first
        self.topology: Topology = topology([], self.traffic)
        self.actions: deque[Action] = deque(maxlen=200)
        self.samples = 0
        #: the tap's cost is bounded: above ``tap_budget`` messages a second (0: never) it listens one
        #: second in every ``sampling`` and each message heard counts for ``sampling``
        self.tap_budget = tap_budget
        self.sampling = 1
        self._connected = False
        self._mark = (0.0, 0)
        self._off_until = 0.0
        self._past: deque[Topology] = deque(maxlen=4 * MAX_EVERY)
        self._given_bus = bus
        self.bus: Bus | None = bus
        self._tap: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._tick = asyncio.Event()

    async def start(self) -> Board:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
        return self

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._disconnect()

    async def next_sample(self, timeout: float) -> None:
        """Wait for the next sample (or ``timeout`` seconds)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._tick.wait(), timeout)

    def record(self, who: str, what: str, outcome: str) -> Action:
        action = Action(time.time(), who, what, outcome)
        self.actions.appendleft(action)
        log.info("dashboard action by %s: %s -> %s", who, what, outcome)
        return action

    def require_bus(self) -> Bus:
        if self.bus is None or not self.status.connected:
            raise interlink.BrokerError(f"the broker is unreachable: {self.status.message}")
        return self.bus

    # -- the loop --------------------------------------------------------------

    async def _run(self) -> None:
        delay = 1.0
        while True:
            if not self._connected:
                try:
                    await self._connect()
                    delay = 1.0
                except (InterlinkError, OSError) as exc:
                    self._down(str(exc), delay)
                    await self._wait(delay)
                    delay = min(delay * 2, RETRY_MAX)
                    continue
            try:
                await self._sample()
            except (InterlinkError, OSError) as exc:
                self._down(str(exc), self.interval)
            await self._wait(self.interval)

    async def _connect(self) -> None:
        if self.bus is None:
            bus = interlink.connect(self.url, name="dashboard")
            try:
                await bus.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await bus.close()
                raise
            self.bus = bus
        await self._listen()
        self._connected = True
        self.status = Status(self.status.url, connected=True, message="connected")
        log.info("dashboard connected to %s", self.status.url)

    async def _listen(self) -> None:
        if self.bus is not None and self._tap is None:
            self._tap = await self.bus.transport.tap(self.traffic)
            self._mark = (time.monotonic(), self.traffic.total)

    async def _deafen(self) -> None:
        tap, self._tap = self._tap, None
        if tap is not None:
            with contextlib.suppress(Exception):
                await tap.stop()

    async def _duty(self) -> None:
        """Listen in full while the traffic is within the budget; above it, one second in every N."""
        now = time.monotonic()
        if self._tap is None:
            if now >= self._off_until:
                self.traffic.weight = self.sampling
                await self._listen()
            return
        at, total = self._mark
        if now - at < 1.0 or self.tap_budget <= 0:
            return
        rate = (self.traffic.total - total) / (now - at)
        self._mark = (now, self.traffic.total)
        self.sampling = min(MAX_EVERY, max(1, math.ceil(rate / self.tap_budget)))
        self.traffic.weight = self.sampling
        if self.sampling > 1:
            await self._deafen()
            self._off_until = now + (self.sampling - 1) * (now - at)

    async def _disconnect(self) -> None:
        self._connected = False
        await self._deafen()
        bus = self.bus
        if bus is not None and bus is not self._given_bus:
            self.bus = None
            with contextlib.suppress(Exception):
                await bus.close(grace=1.0)

    def _down(self, why: str, retry_in: float) -> None:
        if self.status.connected or self.status.message != why:
            log.warning("dashboard: broker %s unreachable: %s", self.status.url, why)
        since = time.time() if self.status.connected else self.status.since
        self.status = Status(self.status.url, False, why, time.time() + retry_in, since)
        self._announce()

    async def _wait(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def _announce(self) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def _sample(self) -> None:
        bus = self.bus
        if bus is None:
            return
        await self._duty()
        if self.samples % SLOW_EVERY == 0:
            await self._sample_slow(bus)
        self.samples += 1
        self.flow.sample(time.time(), self.registry, self.traffic)
        window = max(EDGE_WINDOW, 2.0 * self.sampling)
        since = next((t for t in self._past if time.time() - t.at <= window), None)
        self.topology = topology(self.registry, self.traffic, since)
        self._past.append(self.topology)
        if not self.status.connected:
            self.status = Status(self.status.url, connected=True, message="connected")
        self._announce()

    async def _sample_slow(self, bus: Bus) -> None:
        services = getattr(bus, "services", None)
        if services is None:
            self.registry_available = False
        else:
            self.registry = list(await services(within=REGISTRY_WAIT))
        self.backlog = await bus.transport.backlog()
        self.letters = await bus.dead_letters.list(limit=LETTERS)

    async def refresh_letters(self) -> None:
        """Read the dead letters again now (after an action), and tell the views."""
        with contextlib.suppress(InterlinkError, OSError):
            self.letters = await self.require_bus().dead_letters.list(limit=LETTERS)
            self._announce()
