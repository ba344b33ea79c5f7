"""A RemoteError that escapes a handler keeps its code across hops, through the real gateway too."""

from __future__ import annotations

from typing import Any

from interlink import Context, Service, ServiceError
from tests.gateway.conftest import running


def services(p: str) -> list[Service]:
    inventory = Service(f"{p}inventory")

    @inventory.endpoint(f"{p}.item.get")
    async def item(body: dict[str, Any]) -> dict[str, Any]:
        raise ServiceError("not_found", "no such item", {"sku": body["sku"]})

    orders = Service(f"{p}orders")

    @orders.endpoint(f"{p}.order.get")
    async def order(body: dict[str, Any], ctx: Context) -> Any:
        return await ctx.request(f"{p}.item.get", {"sku": body["sku"]})  # the RemoteError escapes

    @orders.endpoint(f"{p}.order.quote")
    async def quote(body: dict[str, Any], ctx: Context) -> Any:
        return await ctx.request(f"{p}.item.get", {"sku": "x"})

    return [inventory, orders]


def config(p: str) -> dict[str, Any]:
    return {"routes": [
        {"path": "/orders/{sku}", "request": f"{p}.order.get"},
        {"method": "POST", "path": "/quotes", "send": f"{p}.order.quote"},
    ]}


async def test_a_nested_not_found_reaches_the_http_client_as_404(broker_url: str, prefix: str) -> None:
    async with running(config(prefix), broker_url, services(prefix)) as gw:
        r = await gw.client.get("/orders/sku-9")
        assert r.status_code == 404, r.text
        assert r.json() == {"error": "not_found", "message": "no such item", "details": {"sku": "sku-9"}}


async def test_a_nested_not_found_of_a_send_reply_is_404_too(broker_url: str, prefix: str) -> None:
    async with running(config(prefix), broker_url, services(prefix)) as gw:
        r = await gw.client.post("/quotes", json={})
        assert r.status_code == 202
        done = await gw.client.get(r.headers["location"], params={"wait": 5})
        assert done.status_code == 404, done.text
        assert done.json()["message"] == "no such item"
