"""A running gateway for each test: services on a broker, uvicorn on a free loopback port, an httpx client.

Broker variants: ``memory://`` always; the machine's NATS at nats://127.0.0.1:4222
when the NATS transport is installed and the server answers (fails under CI=true).
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

import interlink
from interlink import Service
from interlink.gateway import Gateway, GatewayConfig, load_config, server_config
from interlink.testing import unique
from tests.conftest import NATS_URL, require_broker


def nats_url() -> str:
    if importlib.util.find_spec("interlink.transports.nats") is None:
        pytest.skip("the NATS transport (interlink.transports.nats) is not written yet")
    return require_broker(NATS_URL, "NATS")


@pytest.fixture(params=["memory", "nats"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes it runs on the memory broker and on NATS."""
    if request.param == "nats":
        return nats_url()
    return f"memory://{unique('gw')}"


@pytest.fixture
def memory_url() -> str:
    return f"memory://{unique('gw')}"


@pytest.fixture
def prefix() -> str:
    """A subject prefix of its own for each test: tests on a shared broker never meet."""
    return unique("g")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    client: httpx.AsyncClient
    gateway: Gateway
    url: str
    bus: interlink.Bus  # the services' bus

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")


@asynccontextmanager
async def running(config: GatewayConfig | dict[str, Any] | str, broker: str, services: Iterable[Service] = (),
                  *, known: Iterable[Service] = (), **server: Any) -> AsyncIterator[Running]:
    """A gateway serving ``config`` in front of ``services`` (``known``: services it takes types from)."""
    if isinstance(config, str):
        config = load_config(text=config)
    elif isinstance(config, dict):
        config = load_config(data=config)
    if config.name == "gateway":  # the gateway's own durable reply endpoint: one per test on a shared broker
        config.name = unique("gw")
    async with interlink.connect(broker, name="services") as bus, interlink.connect(broker, name="gw") as gw_bus:
        for service in services:
            await bus.serve(service)
        gateway = await Gateway(config, gw_bus, services=known).start()
        port = free_port()
        uv = uvicorn.Server(server_config(gateway, "127.0.0.1", port, **server))
        task = asyncio.create_task(uv.serve())
        while not uv.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
                yield Running(client, gateway, url, bus)
        finally:
            uv.should_exit = True
            await task
            await gateway.close()
