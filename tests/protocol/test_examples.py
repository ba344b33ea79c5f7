"""The examples of docs/protocol.md, read out of the page and run against real brokers.

Each example is a whole program in the page, under a ``<!-- example: NAME -->``
marker; the test runs exactly that text (Python in a fresh interpreter,
JavaScript with Node.js and the npm ``nats`` package) against the page's own
``shop-service``, and checks what the program printed and what the service saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import interlink
from interlink.testing.conformance import eventually
from tests.conftest import NpmInstaller, require_broker
from tests.node import run_node

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
MARKER = re.compile(r"<!-- example: ([a-z0-9-]+) -->\n```[a-z]+\n(.*?)\n```\n", re.S)
RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/"
REDIS_URL = "redis://127.0.0.1:6379/0"



def examples() -> dict[str, str]:
    return dict(MARKER.findall(DOC.read_text()))


def test_every_example_of_the_page_is_run_here() -> None:
    tested = {"shop-service", "nats-js", "nats-py", "aio-pika", "redis-py"}
    assert set(examples()) == tested


class Shop:
    """The page's shop-service, executed as printed, served on one bus."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {}
        exec(compile(examples()["shop-service"], "shop-service", "exec"), self.names)

    @property
    def orders(self) -> list[dict[str, Any]]:
        return self.names["orders"]  # type: ignore[no-any-return]

    @property
    def stock(self) -> list[dict[str, Any]]:
        return self.names["stock"]  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def serve_shop(url: str) -> AsyncIterator[Shop]:
    shop = Shop()
    async with interlink.connect(url) as bus:
        await bus.serve(shop.names["shop"])
        yield shop


def run_python(code: str, **env: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return done.stdout


def lines(out: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, rest = line.partition(" ")
        found.setdefault(key, []).append(rest)
    return found


@pytest.fixture
async def nats_shop(own_nats_url: str) -> AsyncIterator[Shop]:
    async with serve_shop(own_nats_url) as shop:
        yield shop


async def test_nats_js(npm: NpmInstaller, own_nats_url: str, nats_shop: Shop) -> None:
    folder = await asyncio.to_thread(npm, "nats@2")
    out = lines(await asyncio.to_thread(run_node, folder, examples()["nats-js"],
                                        env={**os.environ, "NATS_URL": own_nats_url}))
    assert [json.loads(x) for x in out["price"]] == [{"sku": "tea", "price": 42}]
    assert out["error"] == ["404 not_found: no such item not_found"]  # nats.js's ServiceError
    assert [json.loads(x) for x in out["event"]] == [{"sku": "tea", "qty": 2}]
    assert out["census"] == ['{"name":"shop"} census-1']
    assert [json.loads(x) for x in out["poll"]] == [["node-app", "shop"]]
    await eventually(lambda: nats_shop.stock == [{"sku": "tea", "left": 1}], 10)
    assert nats_shop.orders == [{"sku": "tea", "qty": 2}]


async def test_nats_py(own_nats_url: str, nats_shop: Shop) -> None:
    out = lines(await asyncio.to_thread(run_python, examples()["nats-py"], NATS_URL=own_nats_url))
    assert [json.loads(x) for x in out["price"]] == [{"sku": "tea", "price": 42}]
    assert out["error"] == ["not_found no such item 404"]
    assert out["census"] == ['{"name":"shop"} census-2']
    await eventually(lambda: nats_shop.orders == [{"sku": "cake", "qty": 1}], 10)
    await eventually(lambda: nats_shop.stock == [{"sku": "cake", "left": 0}], 10)


async def test_aio_pika() -> None:
    prefix = f"ilp{uuid.uuid4().hex[:6]}"
    url = require_broker(RABBIT_URL, "RabbitMQ")
    async with serve_shop(f"{url}?prefix={prefix}&expires=300&dead_expires=300") as shop:
        out = lines(await asyncio.to_thread(run_python, examples()["aio-pika"], AMQP_URL=url, IL_PREFIX=prefix))
        tea, none = out["reply"]
        assert tea.startswith("tea - ") and json.loads(tea[6:]) == {"sku": "tea", "price": 42}
        assert none.startswith("none not_found ") and json.loads(none[15:])["message"] == "no such item"
        assert [json.loads(x) for x in out["event"]] == [{"sku": "jam", "qty": 3}]
        await eventually(lambda: shop.stock == [{"sku": "jam", "left": 5}], 10)
        assert shop.orders == [{"sku": "jam", "qty": 3}]


async def test_redis_py() -> None:
    prefix = f"ilp{uuid.uuid4().hex[:6]}"
    url = require_broker(REDIS_URL, "Redis")
    async with serve_shop(f"{url}?prefix={prefix}&retention=300") as shop:
        out = lines(await asyncio.to_thread(run_python, examples()["redis-py"], REDIS_URL=url, IL_PREFIX=prefix))
        tea, none = out["reply"]
        assert tea.startswith("t1 - ") and json.loads(tea[5:]) == {"sku": "tea", "price": 42}
        assert none.startswith("t2 not_found ") and json.loads(none[13:])["code"] == "not_found"
        await eventually(lambda: shop.orders == [{"sku": "pie"}], 10)
        await eventually(lambda: shop.stock == [{"sku": "pie", "left": 2}], 10)
