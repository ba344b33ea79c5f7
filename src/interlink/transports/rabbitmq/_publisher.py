"""Durable publishing with publisher confirms: a publish returns once the broker has the message.

:meth:`Publisher.put` waits for the broker's confirm, so a returned ``notify``
or ``publish`` is stored even if the sending process dies the next moment.
One sender awaiting each call in turn goes at the broker's confirm round trip;
concurrent senders share the channel, at most ``window`` of them unconfirmed
at a time. After a lost connection the caller's message is published again
once the robust connection is back, and a broker nack is retried a few times;
a caller that gets no confirm within ``STORE_WAIT`` seconds gets
``ConnectionLost`` (the message may or may not be stored: at-least-once, a
retry may duplicate). ``flush`` waits for every confirm (used by close).
"""

from __future__ import annotations

import asyncio
import contextlib
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
NACK_RETRIES = 8  # ~7 s of backoff: a cluster's nacks around a failover
STORE_WAIT = 10.0  # seconds a caller waits for its confirm (through a reconnect) before ConnectionLost


class Publisher:
    """Confirmed publishes on one robust channel, at most ``window`` unconfirmed at a time."""

    def __init__(self, channel: AbstractRobustChannel, window: int) -> None:
        self.channel = channel
        self._slots = asyncio.Semaphore(window)
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.closing = False

    async def put(self, exchange: str, routing_key: str, body: bytes, properties: Basic.Properties,
                  on_return: OnReturn | None = None) -> None:
        """Publish and wait for the confirm; ``on_return`` runs when the broker could route it nowhere."""
        async with self._slots:
            self._in_flight += 1
            self._idle.clear()
            try:
                async with asyncio.timeout(STORE_WAIT):
                    returned = await self.confirmed(exchange, routing_key, body, properties,
                                                    mandatory=on_return is not None)
            except TimeoutError:
                raise ConnectionLost(f"no confirm from the broker within {STORE_WAIT:.0f}s") from None
            finally:
                self._in_flight -= 1
                if not self._in_flight:
                    self._idle.set()
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
            except aiormq.exceptions.DeliveryError:
                refused += 1
                if refused >= NACK_RETRIES or self.closing:
                    raise
                if refused >= 2:
                    await _renew(raw)
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
        return self._in_flight

    async def flush(self, timeout: float) -> int:
        """Wait until every publish is confirmed (or ``timeout``); returns how many are still unconfirmed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self._in_flight

    def close(self) -> None:
        """From now on a lost connection fails a publish instead of waiting for the reconnect."""
        self.closing = True


async def _renew(raw: aiormq.abc.AbstractChannel) -> None:
    """Close a channel the broker keeps nacking; the robust channel reopens as a new one.

    Seen on a RabbitMQ 3.10 cluster: a channel opened while a quorum queue was electing a
    new leader went on nacking every publish to it, minutes after the election.
    """
    if not raw.is_closed:
        log.warning("RabbitMQ nacked publishes twice in a row on channel %s: opening a new one", raw.number)
        with contextlib.suppress(Exception):
            await raw.close(ConnectionError("renewing a channel the broker keeps nacking"))
