"""The AsyncAPI 3.0 document, checked by the AsyncAPI Initiative's own parser (npm @asyncapi/parser)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import msgspec
import pydantic

import interlink
from interlink import Service
from interlink._asyncapi import asyncapi_document
from interlink.examples.taxi.app import app as taxi
from tests.conftest import NpmInstaller
from tests.node import run_node

VALIDATE = """
const { Parser } = require("@asyncapi/parser");
const fs = require("fs");
(async () => {
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(fs.readFileSync(process.argv[2] || process.env.DOC, "utf8"));
  const errors = diagnostics.filter((d) => d.severity === 0);
  console.log(JSON.stringify({
    errors: errors.map((d) => ({ message: d.message, path: d.path })),
    warnings: diagnostics.filter((d) => d.severity === 1).length,
    channels: document ? document.channels().all().map((c) => c.address()) : [],
    operations: document ? document.operations().all().map((o) => [o.id(), o.action()]) : [],
  }));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def validate(npm: NpmInstaller, doc: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    folder = npm("@asyncapi/parser@3")
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(doc))
    return json.loads(run_node(folder, VALIDATE, env={**os.environ, "DOC": str(path)}, timeout=120))


class Quote(msgspec.Struct):
    price: float
    currency: str = "EUR"


class Order(pydantic.BaseModel):
    order_id: str
    items: list[str]


@dataclass
class Shipped:
    order_id: str
    carrier: str


class Audit(TypedDict):
    who: str


def shop() -> interlink.App:
    svc = Service("shop", version="2.1.0")

    @svc.endpoint("shop.quote")
    async def quote(order: Order) -> Quote:
        return Quote(1.0)

    @svc.endpoint("shop.ship", publish="shop.shipped")
    async def ship(order: Order) -> Shipped:
        return Shipped(order.order_id, "dhl")

    @svc.subscribe("shop.*.audit")
    async def audit(event: Audit) -> None:
        pass

    @svc.subscribe("prices.>")
    async def bid(event: Any) -> Quote:  # answers a gather
        return Quote(2.0)

    return interlink.App("shop", services=[svc])


def test_taxi_document_passes_the_official_parser(npm: NpmInstaller, tmp_path: Path) -> None:
    doc = asyncapi_document(taxi, "nats://user:secret@127.0.0.1:4222")
    result = validate(npm, doc, tmp_path)
    assert result["errors"] == []
    assert "passenger.verify" in result["channels"] and "trip.created" in result["channels"]
    assert doc["servers"] == {"broker": {"host": "127.0.0.1:4222", "protocol": "nats"}}
    assert "secret" not in json.dumps(doc)
    verify = doc["operations"]["passenger_verify"]
    assert verify["action"] == "receive" and "reply" in verify
    assert doc["components"]["schemas"]["VerifyPassenger"]["properties"]["passenger_id"]["type"] == "string"


def test_every_kind_of_handler_and_type(npm: NpmInstaller, tmp_path: Path) -> None:
    doc = asyncapi_document(shop(), "amqp://guest:guest@rabbit:5672/")
    result = validate(npm, doc, tmp_path)
    assert result["errors"] == []
    assert doc["servers"]["broker"] == {"host": "rabbit:5672", "protocol": "amqp"}
    assert set(result["channels"]) >= {"shop.quote", "shop.ship", "shop.shipped", "shop.{token1}.audit",
                                       "prices.{rest}"}
    actions = dict(map(tuple, result["operations"]))
    assert actions["shop_ship_publish"] == "send" and actions["shop_audit"] == "receive"
    assert "reply" not in doc["operations"]["shop_audit"]
    assert doc["operations"]["shop_bid"]["reply"]["address"] == {"location": "$message.header#/il-inbox"}
    schemas = doc["components"]["schemas"]
    assert {"Quote", "Order", "Shipped", "Audit"} <= set(schemas)
    assert schemas["Order"]["properties"]["items"]["type"] == "array"


def test_cli_writes_the_document(tmp_path: Path) -> None:
    out = tmp_path / "taxi.yaml"
    env = {k: v for k, v in os.environ.items() if k != "INTERLINK_BROKER"}
    done = subprocess.run([sys.executable, "-m", "interlink.cli", "asyncapi", "interlink.examples.taxi.app:app",
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    import yaml

    doc = yaml.safe_load(out.read_text())
    assert doc["asyncapi"] == "3.0.0" and "servers" not in doc and doc["info"]["title"] == "taxi"


def test_cli_refuses_what_is_not_an_app() -> None:
    done = subprocess.run([sys.executable, "-m", "interlink.cli", "asyncapi", "json:dumps"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "not an interlink.App" in done.stderr
