"""Durable publishing with publisher confirms: a publish returns once the broker has the message.

:meth:`Publisher.put` waits for the broker's confirm, so a returned ``notify``
or ``publish`` is stored even if the sending process dies the next moment.
One sender awaiting each call in turn therefore goes at the broker's confirm
round trip; concurrent senders share the channel, with at most ``window``
publishes unconfirmed at a time. The publish itself runs in a task of its
own, so a caller that is cancelled (or gives up after ``STORE_WAIT``) does not
cut it off half-way: after a lost connection the message is published again
once the robust connection is back (at-least-once: a duplicate is possible,
a loss is not), and a broker nack is retried a few times. ``flush`` waits for
every confirm (used by close).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiormq
from aio_pika.abc import AbstractRobustChannel
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from interlink._errors import ConnectionLost

log = logging.getLogger("interlink")

OnReturn = Callable[[], Awaitable[None]]

# The connection went (wait for the robust connection, then publish again) ...
LOST = (aiormq.exceptions.ChannelInvalidStateError, aiormq.exceptions.AMQPConnectionError, ConnectionError)
# ... or the broker closed the channel or nacked: the channel reopens by itself; a few tries, since a
# channel error caused by another publish fails every confirm pending on the channel.
REFUSED = (aiormq.exceptions.ChannelClosed, aiormq.exceptions.DeliveryError)
RETRIES = 5
STORE_WAIT = 10.0  # seconds a caller waits for its confirm (through a reconnect) before ConnectionLost


class Publisher:
    """Confirmed publishes on one robust channel, at most ``window`` unconfirmed at a time."""

    def __init__(self, channel: AbstractRobustChannel, window: int) -> None:
        self.channel = channel
        self._slots = asyncio.Semaphore(window)
        self._pending: set[asyncio.Task[None]] = set()
        self._orphans: set[asyncio.Task[None]] = set()  # publishes whose caller stopped waiting
        self.closing = False

    async def put(self, exchange: str, routing_key: str, body: bytes, properties: Basic.Properties,
                  on_return: OnReturn | None = None) -> None:
        """Publish and wait for the confirm; ``on_return`` runs when the broker could route it nowhere.

        Raises ConnectionLost when no confirm came within ``STORE_WAIT`` (the
        publish goes on in the background: a retry by the caller may duplicate).
        """
        await self._slots.acquire()
        task = asyncio.get_running_loop().create_task(self._deliver(exchange, routing_key, body, properties,
                                                                    on_return))
        self._pending.add(task)
        task.add_done_callback(self._done)
        try:
            await asyncio.wait_for(asyncio.shield(task), STORE_WAIT)
        except TimeoutError:
            self._orphans.add(task)
            raise ConnectionLost(f"no confirm from the broker within {STORE_WAIT:.0f}s") from None
        except asyncio.CancelledError:
            self._orphans.add(task)
            raise

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        self._slots.release()
        orphan = task in self._orphans
        self._orphans.discard(task)
        if orphan and not task.cancelled() and (exc := task.exception()) is not None:
            # its caller has already been told it may not be stored; this is the last word
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
