"""RemoteError across hops: same code, message, details; .service first raiser; .path the chain; a warning."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import interlink
from interlink import Context, RemoteError, Service, ServiceError
from interlink.testing import unique


def chain(p: str) -> list[Service]:
    stock = Service(f"{p}stock")

    @stock.endpoint(f"{p}.stock.get")
    async def get(sku: str) -> int:
        raise ServiceError("not_found", f"no sku {sku}", {"sku": sku})

    inventory = Service(f"{p}inventory")

    @inventory.endpoint(f"{p}.item.get")
    async def item(sku: str, ctx: Context) -> Any:
        return await ctx.request(f"{p}.stock.get", sku)

    orders = Service(f"{p}orders")

    @orders.endpoint(f"{p}.order.get")
    async def order(sku: str, ctx: Context) -> Any:
        return await ctx.request(f"{p}.item.get", sku)

    return [stock, inventory, orders]


async def test_an_escaping_remote_error_keeps_code_details_and_the_chain(
        caplog: pytest.LogCaptureFixture) -> None:
    p = unique("hop")
    async with interlink.connect(f"memory://{p}") as bus:
        for svc in chain(p):
            await bus.serve(svc)
        with caplog.at_level(logging.WARNING, "interlink"), pytest.raises(RemoteError) as err:
            await bus.request(f"{p}.order.get", "s1")
    e = err.value
    assert (e.code, e.message, e.details) == ("not_found", "no sku s1", {"sku": "s1"})
    assert e.service == f"{p}stock"
    assert e.path == (f"{p}stock", f"{p}inventory", f"{p}orders")
    warnings = [r for r in caplog.records if "not_found" in r.getMessage()]
    assert warnings and all(r.levelno == logging.WARNING and r.exc_info is None for r in warnings)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_wire_form_carries_the_path_and_old_forms_still_decode() -> None:
    e = RemoteError("conflict", "taken", "a", {"k": 1}).crossed("b")
    wire = e.to_wire()
    assert wire == {"code": "conflict", "message": "taken", "service": "a", "details": {"k": 1}, "path": ["a", "b"]}
    back = RemoteError.from_wire(wire)
    assert (back.code, back.service, back.path, back.details) == ("conflict", "a", ("a", "b"), {"k": 1})
    old = RemoteError.from_wire({"code": "x", "message": "m", "service": "s"})
    assert old.path == ("s",)
    assert RemoteError.from_wire({"code": "x", "path": "not-a-list"}).path == ()
    assert isinstance(RemoteError.from_wire({"code": "invalid"}).crossed("b"), interlink.ValidationError)


async def test_send_replies_and_dead_letters_keep_the_nested_error() -> None:
    p = unique("hop")
    got: list[RemoteError] = []
    async with interlink.connect(f"memory://{p}") as bus:
        services = chain(p)
        client = Service(f"{p}client")

        @client.endpoint(f"{p}.client.reply")
        async def reply(body: Any) -> None:
            got.append(body)

        @client.endpoint(f"{p}.client.work", max_attempts=1)
        async def work(sku: str, ctx: Context) -> None:
            await ctx.request(f"{p}.order.get", sku)

        for svc in [*services, client]:
            await bus.serve(svc)
        await bus.send(f"{p}.order.get", "s2", reply_to=f"{p}.client.reply")
        await bus.notify(f"{p}.client.work", "s3")
        for _ in range(200):
            letters = await bus.dead_letters.list(service=f"{p}client")
            if got and letters:
                break
            await asyncio.sleep(0.02)
    assert isinstance(got[0], RemoteError) and got[0].code == "not_found" and got[0].service == f"{p}stock"
    assert got[0].path[-1] == f"{p}orders"
    letter = letters[0]
    assert letter.code == "not_found" and letter.reason == "not_found: no sku s3"
    assert letter.error_service == f"{p}stock" and letter.error_path[-1] == f"{p}client" and letter.attempts == 1
