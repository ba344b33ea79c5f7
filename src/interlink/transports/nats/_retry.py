"""Riding out a JetStream leader election: what counts as passing, and a bounded retry.

While a clustered stream or consumer elects a new leader (a node was lost or
restarted), its API calls time out or are answered 503 and publishes get no
acknowledgement. That passes within seconds while a majority of the nodes
lives, so these calls are retried with a backoff from 0.1 s up to 2 s for at
most ``budget`` seconds (publishes resend under the same ``Nats-Msg-Id``, so a
retry is stored once). Anything else fails at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats.errors
import nats.js.errors
from nats.aio.client import Client

from interlink.transports.nats._support import describe, log

T = TypeVar("T")

API_WAIT = 30.0  # a JetStream API call is retried this long through an election
FIRST_DELAY = 0.1
MAX_DELAY = 2.0
_GONE = (nats.errors.TimeoutError, TimeoutError, nats.errors.NoRespondersError, nats.js.errors.ServiceUnavailableError,
         nats.errors.ConnectionReconnectingError, nats.errors.StaleConnectionError,
         nats.errors.OutboundBufferLimitError, nats.errors.UnexpectedEOF)


def passing(exc: BaseException) -> bool:
    """True for the failures of a cluster re-electing or a connection moving to another node."""
    if isinstance(exc, _GONE):
        return True
    if isinstance(exc, nats.js.errors.APIError):  # 5xx: "JetStream system temporarily unavailable", no leader
        return (exc.code or 0) >= 500
    return False


class Backoff:
    """Delays from FIRST_DELAY doubling to MAX_DELAY, within a deadline ``budget`` seconds away."""

    def __init__(self, budget: float) -> None:
        self._loop = asyncio.get_running_loop()
        self.deadline = self._loop.time() + budget
        self._delay = FIRST_DELAY

    def left(self) -> float:
        return self.deadline - self._loop.time()

    async def wait(self) -> bool:
        """Sleep the next delay; False (without sleeping) when that would pass the deadline."""
        delay = self._delay
        if self.left() < delay:
            return False
        self._delay = min(MAX_DELAY, delay * 2)
        await asyncio.sleep(delay)
        return True


async def retrying(client: Client, call: Callable[[], Awaitable[T]], what: str, budget: float = API_WAIT) -> T:
    """``call()``, retried through leader elections and reconnects for at most ``budget`` seconds."""
    backoff = Backoff(budget)
    while True:
        try:
            return await call()
        except Exception as exc:
            if not passing(exc) or client.is_closed:
                raise
            if not await backoff.wait():
                raise
            log.debug("%s: %s; trying again", what, describe(exc))
