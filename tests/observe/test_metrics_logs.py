"""Prometheus metrics of the bus and JSON log lines carrying the handling's ids."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import interlink
from interlink import Context, Service, ServiceError
from interlink.observe import enable_metrics
from interlink.observe._logs import JsonFormatter
from interlink.testing import unique


def samples(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


async def test_handled_by_outcome_durations_and_requests_with_bounded_labels() -> None:
    registry = enable_metrics()  # before the buses: their hooks are chosen when they are made
    name = unique("svc")
    svc = Service(name)

    @svc.endpoint(f"{name}.get")
    async def get(key: str) -> str:
        if key == "missing":
            raise ServiceError("not_found", key)
        return key

    @svc.endpoint(f"{name}.work", max_attempts=2, backoff=0.01)
    async def work(body: Any) -> None:
        raise RuntimeError("always")

    async with interlink.connect(f"memory://{unique()}", name=f"{name}-client") as bus:
        await bus.serve(svc)
        for key in ("a", "b", "missing"):
            with contextlib.suppress(interlink.RemoteError):
                await bus.request(f"{name}.get", key)
        with pytest.raises(interlink.NoResponders):
            await bus.request(f"{name}.nobody", 1)
        await bus.notify(f"{name}.work", {"id": "order-123"})
        for _ in range(200):
            text = generate_latest(registry).decode()
            if samples(text, "interlink_handled_total", service=name, outcome="dead_lettered"):
                break
            await asyncio.sleep(0.02)
    labels = {"service": name, "subject": f"{name}.get"}
    assert samples(text, "interlink_handled_total", **labels, outcome="ok") == 2
    assert samples(text, "interlink_handled_total", **labels, outcome="error") == 1
    assert samples(text, "interlink_handler_duration_seconds_count", **labels) == 3
    assert samples(text, "interlink_handler_in_flight", **labels) == 0
    work_labels = {"service": name, "subject": f"{name}.work"}
    assert samples(text, "interlink_handled_total", **work_labels, outcome="retried") == 1
    assert samples(text, "interlink_handled_total", **work_labels, outcome="dead_lettered") == 1
    client = {"service": f"{name}-client"}
    assert samples(text, "interlink_requests_total", **client, subject=f"{name}.get", outcome="ok") == 2
    assert samples(text, "interlink_requests_total", **client, subject=f"{name}.get", outcome="error") == 1
    assert samples(text, "interlink_requests_total", **client, outcome="no_responders") == 1
    assert samples(text, "interlink_request_duration_seconds_count", **client, subject=f"{name}.get") == 3
    assert samples(text, "interlink_sent_total", **client, style="notify") == 1
    assert "order-123" not in text  # bodies and ids never become labels


async def test_json_log_lines_carry_the_handling_ids() -> None:
    name = unique("svc")
    svc = Service(name)

    @svc.endpoint(f"{name}.hello")
    async def hello(who: str, ctx: Context) -> str:
        logging.getLogger("app").warning("greeting %s", who)
        return who

    @svc.endpoint(f"{name}.sync")
    def sync(who: str) -> str:  # a worker thread
        logging.getLogger("app").warning("in a thread")
        return who

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        async with interlink.connect(f"memory://{unique()}") as bus:
            instance = await bus.serve(svc)
            await bus.request(f"{name}.hello", "ada", headers={"il-cid": "corr-1"})
            await bus.request(f"{name}.sync", "bob")
            logging.getLogger("app").warning("outside")
    finally:
        root.removeHandler(handler)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    greeting = next(x for x in lines if x["message"] == "greeting ada")
    assert greeting["service"] == name and greeting["instance"] == instance.id
    assert greeting["subject"] == f"{name}.hello" and greeting["correlation_id"] == "corr-1"
    assert len(greeting["message_id"]) == 32 and len(greeting["trace_id"]) == 32
    assert greeting["level"] == "WARNING" and greeting["logger"] == "app"
    threaded = next(x for x in lines if x["message"] == "in a thread")
    assert threaded["subject"] == f"{name}.sync"
    outside = next(x for x in lines if x["message"] == "outside")
    assert "service" not in outside


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_interlink_run_serves_metrics() -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "INTERLINK_BROKER"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "interlink.cli", "run", "interlink.examples.taxi.app:app", "--broker",
         f"memory://{unique()}", "--http", "off", "--metrics", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        page = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
                if 'service="passenger"' in page:  # the services are served
                    break
                time.sleep(0.2)
            except OSError:
                time.sleep(0.2)
        assert "# TYPE interlink_handled counter" in page or "# TYPE interlink_handled_total counter" in page
        assert 'interlink_handler_in_flight{handler="verify",service="passenger",subject="passenger.verify"}' in page
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [["run", "m:app", "--http", "off"], ["gateway", "routes.yaml"]])
def test_log_format_json_sets_the_json_formatter(command: list[str]) -> None:
    from interlink.cli import parser
    from interlink.cli._observe import Telemetry

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        Telemetry(parser().parse_args([*command, "--log-format", "json"]))
        assert any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


async def test_consumer_backlog_is_sampled_from_jetstream() -> None:
    from tests.conftest import NATS_URL, require_broker

    registry = enable_metrics()
    name = unique("svc")
    svc = Service(name)
    release = asyncio.Event()

    @svc.endpoint(f"{name}.slow", max_concurrency=1)
    async def slow(body: Any) -> None:
        await release.wait()

    async with interlink.connect(require_broker(NATS_URL, "NATS")) as bus:
        await bus.serve(svc)
        for n in range(6):
            await bus.notify(f"{name}.slow", n)
        await asyncio.sleep(0.5)
        await bus._backlog.sample()  # what the sampler does every few seconds
        text = generate_latest(registry).decode()
        release.set()
    waiting = samples(text, "interlink_consumer_backlog", service=name, subject=f"{name}.slow", transport="nats")
    assert 4 <= waiting <= 5, text[-2000:]
