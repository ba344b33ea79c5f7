"""A rolling restart of three service instances (``interlink run`` processes) under load.

One at a time: SIGTERM (the instance drains: readiness 503, no new messages, handlers in
flight finish), wait for it to leave, start its replacement, wait until it is ready. A sender
notifies all along. Then: lost == 0 (every confirmed notify handled to the end) and no handler
cut off (every ``start`` has its ``done`` in the same process). Prints the figures.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from interlink.testing import unique
from tests.conftest import require_broker
from tests.faults.brokers import OwnBroker, OwnNats
from tests.faults.harness import ROOT, Figures, RunProcess, handler_log, probe, wait_until

pytestmark = [pytest.mark.fault, pytest.mark.asyncio]

INSTANCES = 3
RATE = 150  # notifications a second, while each instance handles ~16 / 0.2 s = 80 a second
SLOW = 0.2  # seconds per handler: there are always handlers in flight when SIGTERM comes
GRACE = 15.0

# NATS on a broker of the test's own; RabbitMQ and Redis on the machine's, with short retention.
BROKERS: dict[str, Callable[[], str | OwnBroker]] = {
    "nats": OwnNats,
    "rabbitmq": lambda: require_broker("amqp://guest:guest@127.0.0.1:5672/?expires=900", "rabbitmq"),
    "redis": lambda: require_broker("redis://127.0.0.1:6379/0?retention=900", "redis"),
}


@pytest.fixture(params=sorted(BROKERS))
def broker_url(request: pytest.FixtureRequest) -> Iterator[str]:
    broker = BROKERS[request.param]()
    if isinstance(broker, str):
        yield broker
        return
    yield broker.url
    broker.stop()


def _statuses_until_gone(instance: RunProcess, timeout: float) -> list[str]:
    """What /readyz answered, in order, while the instance drained (\"ready\" must not follow SIGTERM)."""
    seen: list[str] = []
    end = time.monotonic() + timeout
    while instance.proc.poll() is None and time.monotonic() < end:
        status = str(probe(instance.health_port)[1].get("status", "gone"))
        if not seen or seen[-1] != status:
            seen.append(status)
        time.sleep(0.02)
    return seen


def _roll(instances: list[RunProcess], start: Callable[[], RunProcess]) -> list[dict[str, float]]:
    rounds = []
    for n in range(len(instances)):
        old = instances[n]
        old.proc.terminate()
        began = time.monotonic()
        seen = _statuses_until_gone(old, GRACE + 15)
        code = old.proc.wait(5)
        left = time.monotonic() - began
        instances[n] = start()
        instances[n].wait_ready()
        rounds.append({"exit": code, "drain_s": round(left, 2), "probes": "/".join(seen),
                       "replaced_s": round(time.monotonic() - began, 2)})
    return rounds


async def test_rolling_restart_of_three_instances_under_load(broker_url: str, tmp_path: Path) -> None:
    env = {"ROLLING_SERVICE": unique("rolling"), "ROLLING_SUBJECT": unique("work"), "ROLLING_OUTDIR": str(tmp_path),
           "ROLLING_SLOW": str(SLOW)}

    def start() -> RunProcess:
        return RunProcess.start("tests.faults.rolling_app:app", broker_url, env, "--grace", str(GRACE))

    instances = [start() for _ in range(INSTANCES)]
    confirmed_file = tmp_path / "confirmed.txt"
    sender: subprocess.Popen[bytes] | None = None
    try:
        for instance in instances:
            instance.wait_ready()
        sender = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.sender", broker_url, env["ROLLING_SUBJECT"], str(confirmed_file),
             "--rate", str(RATE)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.to_thread(wait_until, lambda: confirmed_file.exists()
                                and confirmed_file.read_text().count("\n") >= RATE, 30)
        rounds = await asyncio.to_thread(_roll, instances, start)
        await asyncio.sleep(1.0)  # load on the new instances too
        sender.terminate()
        sender.wait(10)
        confirmed = {line for line in confirmed_file.read_text().split("\n") if line}
        finished = await asyncio.to_thread(wait_until, lambda: confirmed <= set(handler_log(tmp_path)[0]), 60)
    finally:
        if sender is not None and sender.poll() is None:
            sender.kill()
        codes = [i.terminate()[0] for i in instances]
    done, cut_off = handler_log(tmp_path)
    figures = Figures(f"rolling restart of {INSTANCES} instances (SIGTERM, drain)", len(confirmed),
                      len(confirmed & set(done)), sum(done.values()) - len(done))
    figures.print()
    print(f"[fault] handlers cut off: {cut_off}; rounds: {rounds}; final exits: {codes}")
    assert finished and figures.lost == 0 and cut_off == 0
    assert all(r["exit"] == 0 and "ready" not in str(r["probes"]) for r in rounds) and codes == [0] * INSTANCES
