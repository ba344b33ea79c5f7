"""The interlink command as users run it: separate processes sharing `interlink broker`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "interlink.cli"]


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def call(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(20)


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    proc = start("broker", "--json")
    assert proc.stdout is not None
    url = json.loads(proc.stdout.readline())["url"]
    yield url
    assert stop(proc) == 0


@pytest.fixture(scope="module")
def taxi(broker: str) -> Iterator[subprocess.Popen[str]]:
    proc = start("run", "examples.taxi.app:app", "--broker", broker, "--instances", "driver=3", "--json")
    assert proc.stdout is not None
    started = json.loads(proc.stdout.readline())
    assert started["app"] == "taxi" and len(started["instances"]) == 8
    yield proc
    assert stop(proc) == 0  # SIGTERM: a graceful stop, exit 0


def test_request_to_a_running_app(broker: str, taxi: subprocess.Popen[str]) -> None:
    result = call("request", "passenger.verify", '{"passenger_id": "p1"}', "--broker", broker, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"passenger_id": "p1", "ok": True, "rating": 5.0}
    result = call("request", "passenger.verify", '{"wrong": 1}', "--broker", broker)
    assert result.returncode == 6 and "ValidationError" in result.stderr


def test_listen_sees_published_events(broker: str, taxi: subprocess.Popen[str]) -> None:
    listener = start("listen", "audit.>", "--broker", broker, "--json", "--count", "1")
    time.sleep(1.0)  # the listener subscribes
    result = call("publish", "audit.login", '{"user": "ada"}', "--broker", broker, "--json")
    assert result.returncode == 0, result.stderr
    out, _ = listener.communicate(timeout=20)
    event = json.loads(out.splitlines()[-1])
    assert event["subject"] == "audit.login" and event["body"] == {"user": "ada"}
    assert event["headers"]["il-from"] == "cli" and event["headers"]["il-id"] == json.loads(result.stdout)["message_id"]


def test_no_responders_and_unreachable_broker_exit_codes(broker: str) -> None:
    assert call("request", "nobody.here", "{}", "--broker", broker).returncode == 3
    started = time.monotonic()
    result = call("request", "a.b", "{}", "--broker", "nats://127.0.0.1:1")
    assert result.returncode == 5 and "Traceback" not in result.stderr
    assert time.monotonic() - started < 15
