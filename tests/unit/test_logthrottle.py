"""The limit on repeated warnings: a flood of refused messages is a few lines and a count."""

from __future__ import annotations

import asyncio
import logging

import pytest

import interlink
from interlink import Service
from interlink._logthrottle import THROTTLE, Throttle
from interlink.testing import unique


def _record(level: int = logging.WARNING, line: int = 10, msg: str = "refused %s") -> logging.LogRecord:
    return logging.LogRecord("interlink", level, "/x/dispatch.py", line, msg, ("m",), None)


def test_a_call_site_gets_its_burst_per_window_then_a_count() -> None:
    now = [0.0]
    throttle = Throttle(burst=3, window=10.0, clock=lambda: now[0])
    passed = [throttle.filter(_record()) for _ in range(50)]
    assert passed == [True] * 3 + [False] * 47
    assert throttle.filter(_record(line=11))  # another call site has its own burst
    assert throttle.filter(_record(logging.CRITICAL))  # never held back
    assert throttle.filter(_record(logging.INFO))
    now[0] = 10.5
    first = _record()
    assert throttle.filter(first)
    assert first.getMessage() == "refused m (47 more like this in the last 10s)"
    second = _record()
    assert throttle.filter(second) and second.getMessage() == "refused m"


def test_burst_zero_lets_everything_through() -> None:
    throttle = Throttle(burst=0)
    assert all(throttle.filter(_record()) for _ in range(100))


async def test_a_flood_of_bad_bodies_is_a_bounded_number_of_lines(caplog: pytest.LogCaptureFixture) -> None:
    svc = Service(unique("strict"))
    subject = unique("ints")
    handled: list[int] = []

    @svc.endpoint(subject)
    async def take(body: int) -> None:
        handled.append(body)

    assert THROTTLE.burst > 0
    async with interlink.connect(f"memory://{unique('flood')}") as bus:
        await bus.serve(svc)
        with caplog.at_level(logging.WARNING, logger="interlink"):
            for n in range(300):
                await bus.notify(subject, f"not an int {n}")
            await bus.notify(subject, 7)
            dead = await bus.dead_letters.list()
            for _ in range(100):
                if handled and len(dead) == 300:
                    break
                await asyncio.sleep(0.05)
                dead = await bus.dead_letters.list()
    assert handled == [7] and len(dead) == 300  # nothing lost to the limit: only log lines are held back
    lines = [r for r in caplog.records if r.name == "interlink" and r.levelno >= logging.WARNING]
    assert 0 < len(lines) <= 3 * THROTTLE.burst, len(lines)

