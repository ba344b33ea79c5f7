"""The embedded broker: ``interlink.connect()`` with no URL runs a real nats-server with JetStream."""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

import interlink
from interlink import _embedded
from interlink.testing import unique
from interlink.transports.nats import NatsTransport


def listening(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=0.5):
            return True
    except OSError:
        return False


async def test_connect_without_url_shares_one_embedded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERLINK_BROKER", raising=False)
    svc = interlink.Service(unique("echo"))
    subject = unique()

    @svc.endpoint(subject)
    async def echo(body: Any) -> Any:
        return {"echo": body}

    first = await interlink.connect().start()
    second = await interlink.connect().start()
    server = _embedded._server
    assert server is not None and server.process is not None
    store = server.store_dir
    try:
        for bus in (first, second):
            assert isinstance(bus.transport, NatsTransport) and bus.transport.url == server.url
        assert urlsplit(server.url).hostname == "127.0.0.1" and listening(server.url)
        await first.serve(svc)
        assert await second.request(subject, [1, 2], timeout=5.0) == {"echo": [1, 2]}
        await second.notify(subject, "stored")  # JetStream is on: durable sends work
    finally:
        await first.close()
        assert _embedded._server is server and listening(server.url)  # still used by the second bus
        await second.close()
    assert _embedded._server is None
    assert server.process is None and not listening(server.url)
    assert not os.path.exists(store)


async def test_a_new_embedded_server_after_the_last_one_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERLINK_BROKER", raising=False)
    async with interlink.connect() as bus:
        url = bus.transport.url if isinstance(bus.transport, NatsTransport) else ""
        assert listening(url)
    assert not listening(url)
    async with interlink.connect() as again:
        assert isinstance(again.transport, NatsTransport) and listening(again.transport.url)


async def test_starting_the_embedded_server_does_not_block_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """nats-server starts in a thread and picks its own port (-p -1, read from its ports file)."""
    import asyncio
    import time

    monkeypatch.delenv("INTERLINK_BROKER", raising=False)
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    started = time.monotonic()
    bus = await interlink.connect().start()
    took = time.monotonic() - started
    stop.set()
    await ticking
    try:
        assert isinstance(bus.transport, NatsTransport) and listening(bus.transport.url)
        assert urlsplit(bus.transport.url).port not in (None, 0, -1)
    finally:
        await bus.close()
    # the loop kept turning while the server started (a blocking start would leave one gap of `took`)
    assert len(gaps) > 5 and max(gaps) < max(0.25, took / 2), (max(gaps), took)
