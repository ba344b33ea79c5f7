"""The amqp:// consumer's window: a binding with two queues still runs at most ``max_inflight`` handlers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from interlink.testing import unique
from interlink.testing.conformance import eventually
from interlink.transports.base import Binding, Message
from interlink.transports.rabbitmq import RabbitTransport
from tests.conftest import require_broker
from tests.transports.test_rabbitmq import OPTIONS, RABBIT_URL


@pytest.fixture
async def transport() -> AsyncIterator[RabbitTransport]:
    made = RabbitTransport(require_broker(RABBIT_URL, "RabbitMQ") + OPTIONS)
    await made.start()
    yield made
    await made.close()


class Gauge:
    """Counts the handlers running at once and remembers the most."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0

    def __enter__(self) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)

    def __exit__(self, *_: object) -> None:
        self.running -= 1


async def test_a_durable_endpoint_runs_at_most_max_inflight_handlers(transport: RabbitTransport) -> None:
    subject = unique()
    gauge = Gauge()
    handled: list[bytes] = []

    async def on(message: Message) -> None:
        with gauge:
            await asyncio.sleep(0.1)
        handled.append(message.body)
        if message.reply_to is not None:
            await transport.reply(message.reply_to, Message(subject, message.body))
        elif message.receipt is not None:
            await message.receipt.ack()

    # sends come from the stored queue, requests from the live one: two consumers, one binding
    await transport.consume(Binding("endpoint", subject, group="g", durable=True, name="g", max_inflight=4), on)
    for _ in range(20):
        await transport.send(Message(subject, b"send"))
    replies = await asyncio.gather(*(transport.request(Message(subject, b"request"), 10.0) for _ in range(20)))
    await eventually(lambda: len(handled) == 40, timeout=10.0)
    assert [r.body for r in replies] == [b"request"] * 20
    assert gauge.peak == 4  # the window is used in full, and never twice over


async def test_a_delivery_waiting_for_a_slot_goes_back_when_the_binding_stops(transport: RabbitTransport) -> None:
    subject = unique()
    release = asyncio.Event()
    first: list[bytes] = []
    later: list[tuple[bytes, int]] = []

    async def busy(message: Message) -> None:
        first.append(message.body)
        await release.wait()
        if message.reply_to is not None:
            await transport.reply(message.reply_to, Message(subject, b"done"))

    async def on(message: Message) -> None:
        later.append((message.body, message.attempt))
        assert message.receipt is not None
        await message.receipt.ack()

    binding = Binding("endpoint", subject, group="g", durable=True, name="g", max_inflight=1)
    sub = await transport.consume(binding, busy)
    request = asyncio.ensure_future(transport.request(Message(subject, b"request"), 10.0))
    await eventually(lambda: first == [b"request"])
    await transport.send(Message(subject, b"send"))  # delivered, but the one slot is taken
    await asyncio.sleep(0.3)
    stopping = asyncio.ensure_future(sub.stop())
    await asyncio.sleep(0.1)
    release.set()
    await stopping
    assert (await request).body == b"done"
    assert first == [b"request"]  # the waiting send was not started once the binding stopped ...
    await transport.consume(binding, on)
    await eventually(lambda: len(later) == 1)
    assert later == [(b"send", 2)]  # ... but handed back to the broker, which delivers it again
