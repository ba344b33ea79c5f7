"""Delayed messages on Redis: one sorted set, and a mover in every process that uses it.

``P:delayed`` is a zset: member = the message frame ``(kind, subject, headers, body)``
(kind ``s`` for a send, ``p`` for a durable publish), score = due time in ms since
the epoch (the senders' clock). ``schedule`` is one ZADD.

The mover of each transport that consumes durably or schedules runs the CLAIM
script every ``POLL`` seconds (sooner when the next message is due sooner): it
takes up to ``BATCH`` due members and, in the same atomic step, moves their score
``LEASE`` into the future. The mover then carries each out with an ordinary send or
durable publish and ZREMs it. Several movers never take the same member; a mover
that dies between the claim and the ZREM leaves the member to come due again after
the lease: at least once. What Redis keeps across a restart depends on its
persistence settings, as for every stream of this transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec

from interlink._errors import InterlinkError
from interlink.transports.base import Message
from interlink.transports.redis._conn import Script, stop_task
from interlink.transports.redis._streams import encode

if TYPE_CHECKING:
    from interlink.transports.redis._transport import RedisTransport

log = logging.getLogger("interlink.redis")

POLL = 0.25
BATCH = 200
LEASE_MS = 30_000
_decode = msgspec.msgpack.Decoder(tuple[str, str, dict[str, str], bytes]).decode

# KEYS: the zset. ARGV: now ms, batch, lease ms. Returns {claimed members, score of the
# next member or nil}.
CLAIM = Script("""
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local later = tonumber(ARGV[1]) + tonumber(ARGV[3])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], later, member) end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {due, nxt[2] or false}
""")


class Delayed:
    """Scheduling and the mover of one Redis transport."""

    def __init__(self, transport: RedisTransport) -> None:
        self._transport = transport
        self.key = f"{transport.options.prefix}:delayed"
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def schedule(self, message: Message, due: float, publish: bool) -> None:
        self.start_mover()
        frame = encode(("p" if publish else "s", message.subject, message.headers, message.body))
        await self._transport.link.call("ZADD", self.key, int(due * 1000), frame)
        self._wake.set()  # it may be due sooner than the mover's next look

    def start_mover(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)

    async def _run(self) -> None:
        while True:
            try:
                wait = await self._round()
            except Exception as exc:  # Redis away: try again in a moment
                log.warning("redis: delayed messages: %s", exc)
                wait = 1.0
            if wait > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

    async def _round(self) -> float:
        """Claim and carry out what is due; returns seconds until the next look."""
        link = self._transport.link
        now = time.time()
        reply: list[Any] = await link.script(CLAIM, [self.key], [int(now * 1000), BATCH, LEASE_MS])
        claimed: list[bytes] = reply[0]
        next_due = float(reply[1]) / 1000 if reply[1] is not None else None
        if claimed:
            done = await asyncio.gather(*(self._carry_out(m) for m in claimed))
            finished = [m for m, ok in zip(claimed, done, strict=True) if ok]
            if finished:
                await link.call("ZREM", self.key, *finished)
            if len(claimed) >= BATCH:
                return 0.0
        if next_due is None:
            return POLL
        return min(POLL, max(0.0, next_due - time.time()))

    async def _carry_out(self, member: bytes) -> bool:
        try:
            kind, subject, headers, body = _decode(member)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.error("redis: dropped a delayed entry that does not decode (%d bytes)", len(member))
            return True
        message = Message(subject, body, headers)
        try:
            if kind == "p":
                await self._transport.publish(message, durable=True)
            else:
                await self._transport.send(message)
        except InterlinkError as exc:  # comes due again after the lease
            log.warning("redis: delayed message %s to %s not carried out yet: %s", headers.get("il-id"), subject,
                        exc)
            return False
        return True

