"""The kill switch pauses a failing endpoint and resumes it after a trial."""

import asyncio
from typing import Any

import pytest

import interlink
from interlink import KillSwitch, Service
from interlink.testing import unique
from interlink.testing.conformance import eventually


async def test_pauses_on_failures_then_resumes_after_a_good_trial() -> None:
    svc, subject = Service(unique("svc")), unique()
    healthy = asyncio.Event()
    handled: list[int] = []

    @svc.endpoint(subject, max_concurrency=1, backoff=0.01, max_backoff=0.01, max_attempts=100,
                  kill_switch=KillSwitch(failure_rate=0.5, window=4, cool_down=0.5))
    async def handle(n: int) -> None:
        if not healthy.is_set():
            raise ConnectionError("downstream is down")
        handled.append(n)

    async with interlink.connect(f"memory://{unique()}") as bus:
        await bus.serve(svc)
        for n in range(3):
            await bus.notify(subject, n)
        await eventually(lambda: bus.kill_switches()[0]["state"] == "paused")
        status = bus.kill_switches()[0]
        assert status["pauses"] == 1 and status["subject"] == subject and status["resumes_at"] is not None
        healthy.set()  # the dependency is back while the endpoint is paused
        await eventually(lambda: sorted(handled) == [0, 1, 2], timeout=10)
        await eventually(lambda: bus.kill_switches()[0]["state"] == "running")
        assert bus.kill_switches()[0]["resumes"] == 1


async def test_a_failed_trial_pauses_again() -> None:
    svc, subject = Service(unique("svc")), unique()

    @svc.endpoint(subject, max_concurrency=1, backoff=0.01, max_backoff=0.01, max_attempts=1000,
                  kill_switch=KillSwitch(failure_rate=1.0, window=2, cool_down=0.2))
    async def handle(body: Any) -> None:
        raise ConnectionError("still down")

    async with interlink.connect(f"memory://{unique()}") as bus:
        await bus.serve(svc)
        await bus.notify(subject, 1)
        await eventually(lambda: bus.kill_switches()[0]["pauses"] >= 2, timeout=10)  # type: ignore[operator]
        assert bus.kill_switches()[0]["resumes"] == 0


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        KillSwitch(failure_rate=0)
    with pytest.raises(ValueError):
        KillSwitch(window=0)
    with pytest.raises(TypeError):
        Service("s").endpoint("s.x", kill_switch=0.5)
