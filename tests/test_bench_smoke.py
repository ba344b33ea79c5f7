"""A tiny run of ``python -m bench`` on memory and each broker: every row is there with positive figures.

Not a timed test: it asserts that the benchmark runs and reports, never a speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_broker

ROOT = Path(__file__).resolve().parent.parent
BROKER_URLS = {
    "nats": os.environ.get("INTERLINK_NATS_URL", "nats://127.0.0.1:4222"),
    "rabbitmq": os.environ.get("INTERLINK_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/"),
    "redis": os.environ.get("INTERLINK_REDIS_URL", "redis://127.0.0.1:6379/0"),
}
SMOKE_COUNTS = ["--req1", "50", "--req50", "200", "--pubsub", "300", "--durable", "200"]


def run_bench(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", *SMOKE_COUNTS, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def rows(result: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(f["broker"], f["test"], f["side"]): f for f in result["figures"]}


def check_positive(figures: dict[tuple[str, str, str], dict[str, Any]], expected: list[tuple[str, str, str]]) -> None:
    missing = [key for key in expected if key not in figures]
    assert not missing, f"rows missing from the table: {missing}"
    for key in expected:
        figure = figures[key]
        assert figure["received"] == figure["sent"] > 0, (key, figure)
        assert figure["rate"] > 0 and figure["p50_us"] > 0 and figure["p99_us"] >= figure["p50_us"], (key, figure)


def test_memory_rows() -> None:
    result = run_bench("--broker", "memory")
    check_positive(rows(result), [
        ("memory", "req1", "direct call"), ("memory", "req1", "interlink"),
        ("memory", "req50", "direct call"), ("memory", "req50", "interlink"),
        ("memory", "pubsub", "interlink"),
    ])
    info = result["machine"]
    assert info["cores"] and info["python"] and info["date"]


@pytest.mark.parametrize("broker", sorted(BROKER_URLS))
def test_broker_rows(broker: str) -> None:
    url = require_broker(BROKER_URLS[broker], broker)
    result = run_bench("--broker", broker, f"--{broker}-url", url)
    tests = ("req1", "req50", "pubsub", "durable-publish", "durable-notify")
    sides = ("raw", "interlink", "FastStream")
    extra = {"nats": [("nats", test, "raw natsrpy") for test in ("req1", "req50", "pubsub")],
             "redis": [("redis", "pubsub", "raw pipelined")]}.get(broker, [])
    check_positive(rows(result), [(broker, test, side) for test in tests for side in sides] + extra)
    assert not result["notes"], result["notes"]
    assert not result["machine"]["brokers"][broker].startswith("unreachable")


def test_profile_writes_one_profile_per_side(tmp_path: Path) -> None:
    run_bench("--broker", "memory", "--profile", str(tmp_path))
    names = sorted(p.name for p in tmp_path.glob("*.prof"))
    assert names == ["memory-pubsub-interlink.prof", "memory-req1-direct_call.prof", "memory-req1-interlink.prof",
                     "memory-req50-direct_call.prof", "memory-req50-interlink.prof"]
    assert "function calls" in (tmp_path / "memory-req1-interlink.txt").read_text()


@pytest.mark.parametrize("flag", ["--help"])
def test_cli_help(flag: str) -> None:
    done = subprocess.run([sys.executable, "-m", "bench", flag], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and "--broker" in done.stdout
