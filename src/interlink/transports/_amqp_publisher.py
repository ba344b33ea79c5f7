"""Durable publishing with publisher confirms, many messages in flight.

Awaiting each confirm before the next publish caps a sender at about a
thousand messages a second, so :meth:`Publisher.put` returns once the message
is handed to the connection and a slot of the window is taken; a background
task awaits its confirm and keeps the message until the broker has it. After a
lost connection the message is published again once the robust connection is
back (at-least-once: a duplicate is possible, a loss is not), and a broker nack
is retried a few times. The window bounds what can pile up in memory: when it
is full, ``put`` waits. ``flush`` waits for every confirm (used by close).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiormq
from aio_pika.abc import AbstractRobustChannel
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

log = logging.getLogger("interlink")

OnReturn = Callable[[], Awaitable[None]]

# The connection went (wait for the robust connection, then publish again) ...
LOST = (aiormq.exceptions.ChannelInvalidStateError, aiormq.exceptions.AMQPConnectionError, ConnectionError)
# ... or the broker closed the channel or nacked: the channel reopens by itself; a few tries, since a
# channel error caused by another publish fails every confirm pending on the channel.
REFUSED = (aiormq.exceptions.ChannelClosed, aiormq.exceptions.DeliveryError)
RETRIES = 5


class Publisher:
    """Confirmed publishes on one robust channel, at most ``window`` unconfirmed at a time."""

    def __init__(self, channel: AbstractRobustChannel, window: int) -> None:
        self.channel = channel
        self._slots = asyncio.Semaphore(window)
        self._pending: set[asyncio.Task[None]] = set()
        self.closing = False

    async def put(self, exchange: str, routing_key: str, body: bytes, properties: Basic.Properties,
                  on_return: OnReturn | None = None) -> None:
        """Publish in the background; ``on_return`` runs when the broker could route it nowhere."""
        await self._slots.acquire()
        task = asyncio.get_running_loop().create_task(self._deliver(exchange, routing_key, body, properties,
                                                                    on_return))
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        self._slots.release()
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("durable publish lost after retries: %s: %s", type(exc).__name__, exc)

    async def _deliver(self, exchange: str, routing_key: str, body: bytes, properties: Basic.Properties,
                       on_return: OnReturn | None) -> None:
        returned = await self.confirmed(exchange, routing_key, body, properties, mandatory=on_return is not None)
        if returned and on_return is not None:
            await on_return()

    async def confirmed(self, exchange: str, routing_key: str, body: bytes, properties: Basic.Properties,
                        *, mandatory: bool) -> bool:
        """Publish and wait for the broker's confirm; True if it was returned as unroutable."""
        refused = 0
        pause = 0.05
        while True:
            try:
                raw = await self.channel.get_underlay_channel()
                result = await raw.basic_publish(body, exchange=exchange, routing_key=routing_key,
                                                 properties=properties, mandatory=mandatory)
            except REFUSED:
                refused += 1
                if refused >= RETRIES or self.closing:
                    raise
            except LOST:
                if self.closing:
                    raise
                # get_underlay_channel waits for the robust connection to come back
            else:
                return isinstance(result, DeliveredMessage)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)

    @property
    def unconfirmed(self) -> int:
        return len(self._pending)

    async def flush(self, timeout: float) -> int:
        """Wait until every publish is confirmed (or ``timeout``); returns how many are still unconfirmed."""
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=timeout)
        return len(self._pending)

    async def abandon(self) -> None:
        self.closing = True
        tasks = list(self._pending)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
