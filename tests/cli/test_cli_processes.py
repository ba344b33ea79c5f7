"""The interlink command as users run it: separate processes sharing `interlink broker`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "interlink.cli"]


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


HTTP_PORT = free_port()


@pytest.fixture(scope="module")
def taxi(broker: str) -> Iterator[subprocess.Popen[str]]:
    """The taxi App, its services and (the App has one) its gateway on HTTP_PORT."""
    proc = start("run", "interlink.examples.taxi.app:app", "--broker", broker, "--instances", "driver=3", "--json",
                 "--http", f"127.0.0.1:{HTTP_PORT}")
    assert proc.stdout is not None
    started = json.loads(proc.stdout.readline())
    assert started["app"] == "taxi" and len(started["instances"]) == 8
    assert started["http"] == f"http://127.0.0.1:{HTTP_PORT}"
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


def test_run_serves_the_apps_gateway_over_http(taxi: subprocess.Popen[str]) -> None:
    import httpx
    import jwt

    token = jwt.encode({"sub": "p-http", "aud": "taxi-phone", "exp": int(time.time()) + 300},
                       "taxi-demo-secret-change-me-in-production", algorithm="HS256")
    auth = {"authorization": f"Bearer {token}"}
    ride = {"ride_id": "cli-http-1", "pickup": {"lat": 52.52, "lon": 13.40}, "dropoff": {"lat": 52.50, "lon": 13.45},
            "requested_at": time.time()}
    with httpx.Client(base_url=f"http://127.0.0.1:{HTTP_PORT}", timeout=10.0) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.post("/rides", json=ride).status_code == 401  # the App's gateway config: a token is required
        accepted = http.post("/rides", json=ride, headers=auth)
        assert accepted.status_code == 202 and accepted.json()["status"] == "accepted"
        status = http.get("/rides/cli-http-1", headers=auth)
        for _ in range(50):  # the notification reaches the trip service a moment after the 202
            if status.status_code == 200:
                break
            time.sleep(0.1)
            status = http.get("/rides/cli-http-1", headers=auth)
        assert status.status_code == 200, status.text
        assert status.json()["trip"]["ride_id"] == "cli-http-1"
        assert status.json()["trip"]["passenger_id"] == "p-http"  # from the token's claims, through the gateway
        assert http.get("/rides/nobody", headers=auth).status_code == 404  # the service's not_found, mapped


def test_run_refuses_a_bad_http_address(broker: str) -> None:
    result = call("run", "interlink.examples.taxi.app:app", "--broker", broker, "--http", "nowhere")
    assert result.returncode == 2 and "--http takes HOST:PORT" in result.stderr


def test_run_says_when_the_http_port_is_taken(broker: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = call("run", "interlink.examples.taxi.app:app", "--broker", broker, "--http", f"127.0.0.1:{port}")
    assert result.returncode == 2 and f"cannot serve HTTP on 127.0.0.1:{port}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
