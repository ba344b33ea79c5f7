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
import json
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
_GONE = (nats.errors.TimeoutError, TimeoutError, nats.errors.NoRespondersError, nats.errors.ConnectionReconnectingError,
         nats.errors.StaleConnectionError, nats.errors.OutboundBufferLimitError, nats.errors.UnexpectedEOF)
# "JetStream system temporarily unavailable", "cluster can not handle request", "general RAFT error",
# "stream is offline", "consumer is offline"
_ELECTION = frozenset({10008, 10009, 10041, 10118, 10119})
_NOT_PASSING = frozenset({10023})  # "insufficient resources": answered 503, yet no election ends it


def passing(exc: BaseException) -> bool:
    """True for the failures of a cluster re-electing or a connection moving to another node."""
    if isinstance(exc, nats.js.errors.APIError):  # ServiceUnavailableError too: 503 without an err_code
        return passing_code(exc.code or 503, exc.err_code or 0)
    return isinstance(exc, _GONE)


def passing_code(code: int, err_code: int) -> bool:
    """True for a JetStream error answer that an election explains (not a refused config or a full stream)."""
    if err_code in _ELECTION:
        return True
    return code == 503 and err_code not in _NOT_PASSING


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


def ack_error(data: bytes) -> tuple[int, int, str]:
    """Code, JetStream error code and text of a publish acknowledgement; (0, 0, "") for a success."""
    if data.startswith(b'{"stream"') and b'"error"' not in data:
        return 0, 0, ""
    try:
        error = json.loads(data).get("error", {})
        return int(error.get("code") or 0), int(error.get("err_code") or 0), str(error.get("description") or "?")
    except (ValueError, AttributeError, TypeError):
        return 0, 0, "no stream stores it" if not data else data[:200].decode(errors="replace")
