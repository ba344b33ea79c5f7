"""A FastStream-style orders service, ported to interlink.

In FastStream a subscriber with ``@broker.subscriber("orders.created")`` and
``@broker.publisher("orders.validated")`` returns the validated order and the
framework publishes it. Here that is ``publish=`` on the subscription: the
return value is published before the incoming event is acknowledged. Bad input
raises a ``ServiceError``: the event is dead-lettered with its code at once.

    interlink run examples.orders.service:app
"""

from __future__ import annotations

import msgspec

from interlink import App, Context, Service, ServiceError


class Order(msgspec.Struct):
    id: str
    items: list[str]
    total: float


class ValidatedOrder(msgspec.Struct):
    id: str
    total: float
    items: int


orders = Service("orders")


@orders.subscribe("orders.created", publish="orders.validated")
async def validate(order: Order) -> ValidatedOrder:
    if not order.items:
        raise ServiceError("empty_order", f"order {order.id} has no items")
    return ValidatedOrder(order.id, order.total, len(order.items))


shipping = Service("shipping")
shipped: list[str] = []


@shipping.subscribe("orders.validated")
async def ship(order: ValidatedOrder, ctx: Context) -> None:
    shipped.append(order.id)
    await ctx.notify("mail.notify", {"order": order.id})


mail = Service("mail")


@mail.endpoint("mail.notify")
async def notify(body: dict[str, str]) -> None:
    pass


app = App("orders", services=[orders, shipping, mail])
