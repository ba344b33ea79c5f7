"""``interlink run --health``: readiness follows the broker and the drain; SIGTERM lets handlers finish."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import interlink
from interlink._embedded import NatsServer, free_port
from interlink.testing import unique
from tests.faults.harness import ROOT, RunProcess, handler_log, probe, wait_until

TARGET = "tests.faults.rolling_app:app"


@pytest.fixture
def nats() -> Iterator[NatsServer]:
    server = NatsServer(port=free_port()).start()  # a fixed port: the test restarts it where clients look
    yield server
    server.cleanup()


def _env(tmp_path: Path, subject: str, slow: float) -> dict[str, str]:
    return {"ROLLING_SERVICE": unique("health"), "ROLLING_SUBJECT": subject, "ROLLING_OUTDIR": str(tmp_path),
            "ROLLING_SLOW": str(slow)}


async def test_readiness_follows_the_broker_and_the_drain(nats: NatsServer, tmp_path: Path) -> None:
    subject = unique("work")
    run = RunProcess.start(TARGET, nats.url, _env(tmp_path, subject, slow=3.0), "--grace", "20")
    try:
        run.wait_ready()
        status, body = probe(run.health_port)
        assert (status, body["status"], body["instances"]) == (200, "ready", 1)
        nats.stop()  # the broker goes away: not ready, yet alive
        assert wait_until(lambda: probe(run.health_port)[0] == 503, 15)
        assert probe(run.health_port)[1]["status"] == "unavailable"
        assert probe(run.health_port, "/healthz")[0] == 200
        nats.start()  # back on the same port: ready again once reconnected
        assert wait_until(run.ready, 30)

        async with interlink.connect(nats.url) as bus:
            await bus.notify(subject, 7)
        assert wait_until(lambda: "start 7" in _logs(tmp_path), 15)
        run.proc.terminate()  # mid-handler: readiness drops at once, the handler finishes, the process leaves
        assert wait_until(lambda: probe(run.health_port)[1].get("status") == "draining", 5)
        assert probe(run.health_port, "/healthz") == (200, {"status": "alive", "state": "draining"})
        started = time.monotonic()
        code = run.proc.wait(30)
        seconds = time.monotonic() - started
    finally:
        run.kill()
    done, cut_off = handler_log(tmp_path)
    print(f"\n[drain] exit {code} {seconds:.1f}s after readiness went 503; handled {dict(done)}, cut off {cut_off}")
    assert code == 0 and done["7"] == 1 and cut_off == 0
    assert seconds < 20  # the handler's 3 s, not the whole grace


def _logs(folder: Path) -> str:
    return "".join(log.read_text() for log in folder.glob("*.log"))


@pytest.mark.parametrize("health", ["nowhere", "127.0.0.1:0", "127.0.0.1:99999"])
def test_a_bad_health_address_is_a_usage_error(health: str) -> None:
    result = subprocess.run([sys.executable, "-m", "interlink.cli", "run", TARGET, "--broker", "memory://h",
                             "--health", health], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--health" in result.stderr, result


def test_a_health_port_in_use_is_a_usage_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "interlink.cli", "run", TARGET, "--broker", "memory://h",
                                 "--health", f"127.0.0.1:{port}"], cwd=ROOT, capture_output=True, text=True,
                                timeout=30, env={**os.environ, **_env(tmp_path, "a.b", 0.0)})
    assert result.returncode == 2 and "--health" in result.stderr and result.stderr.count("\n") == 1, result
