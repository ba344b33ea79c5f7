"""Spans per DESIGN: CLIENT/SERVER for requests, PRODUCER/CONSUMER for the rest, parented through traceparent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import interlink
from interlink import Context, Service, ServiceError
from interlink.testing import unique
from tests.conftest import NATS_URL, require_broker
from tests.observe.conftest import Spans


def chain(name: str, seen: asyncio.Queue[Any]) -> Service:
    """hello (request) -> publishes name.greeted -> on_greeted (subscription) -> notify name.log -> log."""
    svc = Service(name)

    @svc.endpoint(f"{name}.hello")
    async def hello(who: str, ctx: Context) -> str:
        if who == "nobody":
            raise ServiceError("unknown", "who is that?")
        await ctx.publish(f"{name}.greeted", {"who": who})
        return f"hello {who}"

    @svc.subscribe(f"{name}.greeted")
    async def on_greeted(event: dict[str, str], ctx: Context) -> None:
        await ctx.notify(f"{name}.log", event)

    @svc.endpoint(f"{name}.log")
    async def log(event: dict[str, str], ctx: Context) -> None:
        await seen.put(ctx.headers["traceparent"])

    return svc


async def wait_for(spans: Spans, count: int) -> None:
    for _ in range(200):
        if len(spans.all()) >= count:
            return
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("where", ["memory", "nats"])
async def test_one_trace_across_request_publish_and_notify(spans: Spans, where: str) -> None:
    url = f"memory://{unique()}" if where == "memory" else require_broker(NATS_URL, "NATS")
    name = unique("svc")
    seen: asyncio.Queue[Any] = asyncio.Queue()
    async with interlink.connect(url, name="caller") as bus:
        await bus.serve(chain(name, seen))
        assert await bus.request(f"{name}.hello", "ada") == "hello ada"
        last_traceparent = await asyncio.wait_for(seen.get(), 10)
        await wait_for(spans, 6)
    client = spans.one(f"send {name}.hello")
    server = spans.one(f"process {name}.hello")
    producer = spans.one(f"publish {name}.greeted")
    consumer = spans.one(f"process {name}.greeted")
    notify = spans.one(f"publish {name}.log")
    handled = spans.one(f"process {name}.log")
    assert (client.kind, server.kind, producer.kind, consumer.kind, notify.kind, handled.kind) == (
        SpanKind.CLIENT, SpanKind.SERVER, SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.PRODUCER, SpanKind.CONSUMER)
    assert client.parent is None
    for child, parent in ((server, client), (producer, server), (consumer, producer), (notify, consumer),
                          (handled, notify)):
        assert child.parent is not None and child.parent.span_id == parent.context.span_id, (child.name, parent.name)
        assert child.context.trace_id == client.context.trace_id
    assert last_traceparent[3:35] == f"{client.context.trace_id:032x}"
    attrs = dict(server.attributes or {})
    assert attrs["messaging.system"] == where
    assert attrs["messaging.destination.name"] == f"{name}.hello"
    assert attrs["messaging.operation.type"] == "process"
    assert attrs["messaging.message.id"]
    assert attrs["interlink.service"] == name and attrs["interlink.attempt"] == 1
    assert dict(client.attributes or {})["messaging.operation.type"] == "send"
    assert dict(producer.attributes or {})["messaging.operation.name"] == "publish"
    assert dict(notify.attributes or {})["messaging.operation.name"] == "notify"


async def test_errors_are_recorded_on_both_sides(spans: Spans) -> None:
    name = unique("svc")
    async with interlink.connect(f"memory://{unique()}") as bus:
        await bus.serve(chain(name, asyncio.Queue()))
        with pytest.raises(interlink.RemoteError):
            await bus.request(f"{name}.hello", "nobody")
    server = spans.one(f"process {name}.hello")
    client = spans.one(f"send {name}.hello")
    assert server.status.status_code is StatusCode.ERROR
    assert [e.name for e in server.events] == ["exception"]
    assert server.events[0].attributes is not None
    assert server.events[0].attributes["exception.type"].endswith("ServiceError")
    assert dict(server.attributes or {})["interlink.outcome"] == "error"
    assert client.status.status_code is StatusCode.ERROR


async def test_a_retried_message_has_its_attempt_and_the_dead_letter_an_event(spans: Spans) -> None:
    name = unique("svc")
    svc = Service(name)
    failed = asyncio.Event()
    calls = 0

    @svc.endpoint(f"{name}.work", max_attempts=2, backoff=0.01)
    async def work(body: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            failed.set()
        raise RuntimeError(f"boom {calls}")

    async with interlink.connect(f"memory://{unique()}") as bus:
        await bus.serve(svc)
        await bus.notify(f"{name}.work", {"n": 1})
        await asyncio.wait_for(failed.wait(), 10)
        await wait_for(spans, 3)
    first, second = sorted(spans.named(f"process {name}.work"), key=lambda s: s.start_time or 0)
    assert [dict(s.attributes or {})["interlink.attempt"] for s in (first, second)] == [1, 2]
    assert [e.name for e in first.events] == ["exception", "retried"]
    assert dict(first.attributes or {})["interlink.outcome"] == "retried"
    assert [e.name for e in second.events] == ["exception", "dead_lettered"]
    assert "boom 2" in str(dict(second.events[1].attributes or {})["interlink.reason"])
    assert second.parent is not None and second.parent.span_id == first.parent.span_id  # type: ignore[union-attr]


async def test_gather_replies_are_children_of_the_gather(spans: Spans) -> None:
    name = unique("svc")
    svc = Service(name)

    @svc.subscribe(f"{name}.quote", broadcast=True)
    async def quote(body: Any) -> int:
        return 7

    async with interlink.connect(f"memory://{unique()}") as a:
        await a.serve(svc)
        await a.serve(svc)
        replies = await a.gather(f"{name}.quote", {}, within=0.3)
        assert [r.body for r in replies] == [7, 7]
        await wait_for(spans, 3)
    gather = spans.one(f"publish {name}.quote")
    answers = spans.named(f"process {name}.quote")
    assert dict(gather.attributes or {})["messaging.operation.name"] == "gather"
    assert len(answers) == 2
    assert all(s.parent is not None and s.parent.span_id == gather.context.span_id for s in answers)


async def test_no_spans_while_no_sdk_provider_is_installed() -> None:
    name = unique("svc")
    async with interlink.connect(f"memory://{unique()}") as bus:
        await bus.serve(chain(name, asyncio.Queue()))
        assert await bus.request(f"{name}.hello", "ada") == "hello ada"
    from interlink.observe import _tracing

    assert _tracing.tracer() is None


WITHOUT_OTEL = """
import asyncio, importlib.abc, sys

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, Absent())
import interlink
from interlink.observe import _hooks

svc = interlink.Service("plain")

@svc.endpoint("plain.echo")
async def echo(body: object) -> object:
    return body

async def main() -> None:
    async with interlink.connect("memory://plain") as bus:
        await bus.serve(svc)
        assert await bus.request("plain.echo", 1) == 1
        assert await bus.publish("plain.event", 2)

asyncio.run(main())
assert _hooks._TRACING is False
assert not [m for m in sys.modules if m.startswith("opentelemetry")], "opentelemetry was imported"
print("ok")
"""


def test_without_opentelemetry_nothing_of_it_is_imported() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", WITHOUT_OTEL], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
