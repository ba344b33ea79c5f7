"""Ordered by key, in parallel: messages with the same key are handled one at a time, in order.

``@svc.endpoint("ride.update", order_by="ride_id")`` takes the key from the decoded
body (a dict key or an attribute; or give a function ``body -> key``). Within one
instance, messages of one key run one after the other in the order the broker
delivered them; different keys run concurrently, up to ``max_concurrency``.
A message waiting for its key's turn holds one of those slots, so one hot key
cannot use more than one slot's worth of handler time but can fill the prefetch.

A message that fails and is redelivered later (a delayed retry) gives up its
place: messages of the same key behind it go on. Use immediate retries
(:func:`interlink.retry_on`) where the order must hold through a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

KeyOf = str | Callable[[Any], Any]


def key_getter(order_by: KeyOf) -> Callable[[Any], str]:
    """A function returning the order key of a decoded body (a missing key: the empty string)."""
    if callable(order_by):
        func = order_by
        return lambda body: str(func(body))
    if not isinstance(order_by, str) or not order_by:
        raise TypeError("order_by is a field name or a function of the body")
    name = order_by

    def get(body: Any) -> str:
        value = body.get(name, "") if isinstance(body, dict) else getattr(body, name, "")
        return str(value)

    return get


class KeyedTurns:
    """One queue per key: ``turn(key)`` is taken synchronously, in arrival order, and awaited after.

        done = turns.take(key)       # no await between receiving the message and this
        await turns.wait(done)       # the previous message of the key has finished
        try: ... finally: turns.release(key, done)
    """

    __slots__ = ("_tails",)

    def __init__(self) -> None:
        self._tails: dict[str, tuple[asyncio.Future[None], asyncio.Future[None] | None]] = {}

    def take(self, key: str) -> tuple[asyncio.Future[None], asyncio.Future[None] | None]:
        previous = self._tails.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        turn = (mine, previous[0] if previous is not None else None)
        self._tails[key] = turn
        return turn

    @staticmethod
    async def wait(turn: tuple[asyncio.Future[None], asyncio.Future[None] | None]) -> None:
        before = turn[1]
        if before is not None and not before.done():
            await asyncio.shield(before)

    def release(self, key: str, turn: tuple[asyncio.Future[None], asyncio.Future[None] | None]) -> None:
        mine = turn[0]
        if not mine.done():
            mine.set_result(None)
        if self._tails.get(key) is turn:
            del self._tails[key]

    def __len__(self) -> int:
        return len(self._tails)
