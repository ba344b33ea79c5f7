"""A tiny run of ``python -m bench`` on memory and NATS: every row is there with positive figures.

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
NATS_URL = os.environ.get("INTERLINK_NATS_URL", "nats://127.0.0.1:4222")
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


def test_nats_rows() -> None:
    require_broker(NATS_URL, "NATS")
    result = run_bench("--broker", "nats", "--nats-url", NATS_URL)
    expected = [("nats", test, side) for test in ("req1", "req50", "pubsub") for side in ("raw", "FastStream")]
    expected += [("nats", test, side) for test in ("durable-publish", "durable-notify")
                 for side in ("raw", "FastStream")]
    from bench._plan import interlink_transport

    available, durable, _ = interlink_transport("nats")
    if available:
        expected += [("nats", test, "interlink") for test in ("req1", "req50", "pubsub")]
    if durable:
        expected += [("nats", test, "interlink") for test in ("durable-publish", "durable-notify")]
    check_positive(rows(result), expected)
    assert result["machine"]["brokers"]["nats"].startswith("nats-server")


@pytest.mark.parametrize("flag", ["--help"])
def test_cli_help(flag: str) -> None:
    done = subprocess.run([sys.executable, "-m", "bench", flag], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and "--broker" in done.stdout
