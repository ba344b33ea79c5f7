from typing import Any

import msgspec
import pytest

from interlink import Context, Delivery, Service


class Order(msgspec.Struct):
    id: str


def test_declaration_records_types_and_options() -> None:
    svc = Service("orders", version="2.1.0")

    @svc.endpoint("orders.get", max_concurrency=4)
    async def get(order: Order, ctx: Context) -> Order:
        return order

    @svc.subscribe("orders.>", broadcast=True)
    def on_any(body: Any) -> None: ...

    assert (svc.name, svc.version) == ("orders", "2.1.0")
    endpoint, sub = svc.handlers
    assert endpoint.body_type is Order and endpoint.ctx_param == "ctx" and endpoint.is_async
    assert endpoint.delivery.max_concurrency == 4
    assert sub.broadcast and not sub.is_async and sub.ctx_param is None
    assert sub.delivery.durable is False  # broadcast is live-only


def test_unresolvable_body_type_is_refused_at_declaration() -> None:
    svc = Service("s")
    with pytest.raises(TypeError, match="cannot resolve"):
        @svc.endpoint("s.x")
        async def handler(body: "NoSuchType") -> None: ...  # type: ignore[name-defined]  # noqa: F821


def test_handler_shapes_and_options_are_checked() -> None:
    svc = Service("s")
    with pytest.raises(TypeError):
        @svc.endpoint("s.a")
        async def no_args() -> None: ...
    with pytest.raises(ValueError):
        Delivery(max_concurrency=0)
    with pytest.raises(ValueError):
        Delivery(max_attempts=0)
    with pytest.raises(TypeError):
        svc.endpoint("s.b", unknown_option=1)

    @svc.endpoint("s.c")
    async def first(body: Any) -> None: ...

    with pytest.raises(ValueError, match="declared twice"):
        @svc.endpoint("s.c")
        async def second(body: Any) -> None: ...
