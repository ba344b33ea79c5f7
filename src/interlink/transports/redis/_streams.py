"""Consumers of the Redis transport: stream groups, request lists, and the runner they share.

A :class:`GroupReader` reads one stream as one consumer of a consumer group
(XREADGROUP BLOCK, COUNT = free handler slots) on a dedicated connection, and
recovers entries of dead consumers with XAUTOCLAIM once they are idle longer
than ``ack_wait``. Settling: ack and reject are XACK + XDEL (batched per loop
iteration); nack re-adds the entry with its delivery count after the delay and
settles the old one in one script; working is XCLAIM to itself, which resets
the idle time. A :class:`RequestReader` pops requests from the endpoint's list
(BLMPOP) on another dedicated connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec
import redis.asyncio.connection as rconn
import redis.exceptions as rexc

from interlink.transports._wire import parse_attempt
from interlink.transports.base import Binding, Handler, Message
from interlink.transports.redis import _lua as lua
from interlink.transports.redis._conn import (
    COMMAND_TIMEOUT,
    Link,
    broker_error,
    close_connection,
    open_connection,
    pack,
    stop_task,
)
from interlink.transports.redis._frames import read_message, read_request
from interlink.transports.redis._url import Options

log = logging.getLogger("interlink.redis")

BLOCK = 2.0  # seconds a blocking read waits before it is issued again (bounds shutdown and reconnects)
LIVE = 10.0  # seconds a member counts as running after its last heartbeat
CLEANUP_EVERY = 60.0  # seconds between sweeps of consumers that left nothing pending
CONSUMER_IDLE = 600_000  # ms of idleness after which an empty consumer entry is removed

# Frames: msgpack arrays. A message: (subject, headers, body). A request adds
# (reply address, expiry in ms since the epoch); a reply starts with its token.
_encoder = msgspec.msgpack.Encoder()
encode = _encoder.encode
decode_reply = msgspec.msgpack.Decoder(tuple[str, str, dict[str, str], bytes]).decode


class Runner:
    """Runs a handler on at most ``limit`` messages at once; the overflow waits in order."""

    def __init__(self, handler: Handler, limit: int) -> None:
        self.handler = handler
        self.free = max(1, limit)
        self.queue: deque[Message] = deque()
        self.tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()

    def room(self) -> int:
        return 0 if self.queue else self.free

    async def wait_room(self) -> int:
        while self.free <= 0 or self.queue:
            self._room.clear()
            await self._room.wait()
        return self.free

    def submit(self, message: Message) -> None:
        if self.free > 0:
            self.free -= 1
            task = asyncio.create_task(self._run(message))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        else:
            self.queue.append(message)

    async def _run(self, message: Message) -> None:
        try:
            while True:
                try:
                    await self.handler(message)
                except Exception:  # the bus logs handler failures; this keeps the slot loop alive
                    log.exception("redis: handler failed on %s", message.subject)
                if not self.queue:
                    return
                message = self.queue.popleft()
        finally:
            self.free += 1
            self._room.set()

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


class Receipt:
    __slots__ = ("_attempt", "_frame", "_id", "_reader", "_settled")

    def __init__(self, reader: GroupReader, entry_id: bytes, frame: bytes, attempt: int) -> None:
        self._reader = reader
        self._id = entry_id
        self._frame = frame
        self._attempt = attempt
        self._settled = False

    async def ack(self) -> None:
        if not self._settled:
            self._settled = True
            await self._reader.ack(self._id)

    reject = ack

    async def nack(self, delay: float) -> None:
        if not self._settled:
            self._settled = True
            self._reader.retry_later(self._id, self._frame, self._attempt, delay)

    async def working(self) -> None:
        if not self._settled:
            await self._reader.touch(self._id)


async def _blocking(options: Options, conn: rconn.AbstractConnection | None) -> rconn.AbstractConnection:
    if conn is None:
        conn = await open_connection(options, timeout=None)
    return conn


async def _read_blocking(conn: rconn.AbstractConnection) -> Any:
    """The reply of a blocking command; a connection that stays silent past its block time is dead."""
    try:
        async with asyncio.timeout(BLOCK + COMMAND_TIMEOUT):
            return await conn.read_response(timeout=math.inf)
    except TimeoutError:
        raise rexc.TimeoutError("no reply to a blocking read") from None


class GroupReader:
    """One consumer of ``group`` on stream ``key``, feeding ``runner``.

    ``durable``: deliveries carry a Receipt and are recovered from dead
    consumers; otherwise each entry is settled as it is read (at most once).
    """

    def __init__(self, link: Link, key: str, group: str, consumer: str, binding: Binding, runner: Runner,
                 on_reconnect: Callable[[], None], *, start_at: str) -> None:
        self.link = link
        self.key = key
        self.group = group
        self.consumer = consumer
        self.binding = binding
        self.runner = runner
        self.durable = binding.durable
        self.start_at = start_at
        self._on_reconnect = on_reconnect
        self._acks: list[bytes] = []
        self._acked: asyncio.Future[None] | None = None
        self._settling: set[asyncio.Task[None]] = set()
        self._retries: dict[bytes, tuple[asyncio.Task[None], bytes, int]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False

    async def create_group(self) -> None:
        try:
            await self.link.call("XGROUP", "CREATE", self.key, self.group, self.start_at, "MKSTREAM")
        except rexc.ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._read()))
        if self.durable:
            self._tasks.append(asyncio.create_task(self._recover()))

    async def _read(self) -> None:
        conn: rconn.AbstractConnection | None = None
        options = self.link.options
        delay = 0.05
        block = str(int(BLOCK * 1000))
        lost_group = False
        try:
            while not self._stopped:
                count = await self.runner.wait_room()
                try:
                    if lost_group:  # Redis restarted without persistence, or the stream expired
                        await self.create_group()
                        lost_group = False
                    fresh = conn is None
                    conn = await _blocking(options, conn)
                    if fresh and delay > 0.05:
                        self._on_reconnect()
                    await conn.send_packed_command(pack(("XREADGROUP", "GROUP", self.group, self.consumer, "COUNT",
                                                         count, "BLOCK", block, "STREAMS", self.key, ">")),
                                                   check_health=False)
                    reply = await _read_blocking(conn)
                    delay = 0.05
                except (rexc.RedisError, OSError) as exc:
                    if isinstance(exc, rexc.ResponseError) and str(exc).startswith("NOGROUP"):
                        lost_group = True
                        continue
                    log.warning("redis: reading %s: %s; retrying", self.key, broker_error(exc, options.url))
                    if not isinstance(exc, rexc.ResponseError):
                        await close_connection(conn)
                        conn = None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 1.0)
                    continue
                if reply:
                    for entry_id, fields in reply[0][1]:
                        self._deliver(entry_id, fields, 1)
        finally:
            await close_connection(conn)

    def _deliver(self, entry_id: bytes, fields: list[bytes] | None, deliveries: int) -> None:
        if fields is None:  # deleted while pending
            self._settle_later(entry_id)
            return
        named = dict(zip(fields[::2], fields[1::2], strict=False))  # b"f": the frame, b"a": deliveries before
        where = f"redis {self.key}"
        frame = named.get(b"f")
        message = read_message(frame, self.binding.pattern, where)
        counted = named.get(b"a")
        before = 0 if counted is None or counted == b"0" else parse_attempt(counted, where) or 0
        if not self.durable:
            self._settle_later(entry_id)
            self.runner.submit(message)
            return
        message.attempt = attempt = before + deliveries
        if not isinstance(frame, bytes) or message.defect is not None:
            frame = b""  # never retried: dead-lettered as it is
        message.receipt = Receipt(self, entry_id, frame, attempt)
        self.runner.submit(message)

    def _settle_later(self, entry_id: bytes) -> None:
        future = self.ack(entry_id)
        future.add_done_callback(_quiet)

    def ack(self, entry_id: bytes) -> asyncio.Future[None]:
        """XACK + XDEL, batched with the other settlements of this loop iteration."""
        self._acks.append(entry_id)
        if self._acked is None:
            loop = asyncio.get_running_loop()
            self._acked = loop.create_future()
            loop.call_soon(self._flush)
        return self._acked

    def _flush(self) -> None:
        ids, self._acks = self._acks, []
        future, self._acked = self._acked, None
        if future is not None:
            task = asyncio.create_task(self._settle(ids, future))
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)

    async def _settle(self, ids: list[bytes], future: asyncio.Future[None]) -> None:
        try:
            await self.link.pipeline(("XACK", self.key, self.group, *ids), ("XDEL", self.key, *ids))
        except Exception as exc:
            if not future.done():
                future.set_exception(broker_error(exc, self.link.options.url))
                future.exception()  # awaited by the receipts still waiting; not worth a warning otherwise
        else:
            if not future.done():
                future.set_result(None)

    async def touch(self, entry_id: bytes) -> None:
        try:
            await self.link.call("XCLAIM", self.key, self.group, self.consumer, 0, entry_id, "JUSTID")
        except Exception as exc:
            raise broker_error(exc, self.link.options.url) from None

    def retry_later(self, entry_id: bytes, frame: bytes, attempt: int, delay: float) -> None:
        task = asyncio.create_task(self._retry(entry_id, frame, attempt, max(0.0, delay)))
        self._retries[entry_id] = (task, frame, attempt)
        task.add_done_callback(lambda _: self._retries.pop(entry_id, None))

    async def _retry(self, entry_id: bytes, frame: bytes, attempt: int, delay: float) -> None:
        # until then the entry stays pending here: keep it from being recovered by another member
        every = self.binding.ack_wait / 2
        while delay > every:
            await asyncio.sleep(every)
            delay -= every
            with contextlib.suppress(Exception):
                await self.touch(entry_id)
        await asyncio.sleep(delay)
        await self._requeue(entry_id, frame, attempt)

    async def _requeue(self, entry_id: bytes, frame: bytes, attempt: int) -> None:
        try:
            await self.link.script(lua.RETRY, [self.key], [self.group, entry_id, frame, attempt,
                                                          self.link.options.maxlen])
        except Exception as exc:  # left pending: recovered by XAUTOCLAIM after ack_wait
            log.warning("redis: could not requeue %s of %s: %s", entry_id, self.key,
                        broker_error(exc, self.link.options.url))

    async def _recover(self) -> None:
        """XAUTOCLAIM entries idle longer than ack_wait (their consumer died or hung) and deliver them again."""
        interval = min(max(self.binding.ack_wait / 4, 0.1), 5.0)
        idle = max(1, int(self.binding.ack_wait * 1000))
        cursor: bytes | str = "0-0"
        swept = time.monotonic()
        while not self._stopped:
            await asyncio.sleep(interval)
            count = self.runner.room()
            if count == 0:
                continue
            try:
                cursor = await self._claim(cursor, idle, count)
                if time.monotonic() - swept > CLEANUP_EVERY:
                    swept = time.monotonic()
                    await self._sweep_consumers()
            except rexc.ResponseError as exc:
                if not str(exc).startswith("NOGROUP"):
                    log.warning("redis: recovering %s: %s", self.key, exc)
            except Exception as exc:
                log.debug("redis: recovering %s: %s", self.key, exc)

    async def _claim(self, cursor: bytes | str, idle: int, count: int) -> bytes | str:
        reply = await self.link.call("XAUTOCLAIM", self.key, self.group, self.consumer, idle, cursor,
                                     "COUNT", count)
        entries = [(entry_id, fields) for entry_id, fields in reply[1] if fields is not None]
        if entries:
            pending = await self.link.pipeline(*(("XPENDING", self.key, self.group, entry_id, entry_id, 1)
                                                 for entry_id, _ in entries))
            for (entry_id, fields), info in zip(entries, pending, strict=True):
                deliveries = int(info[0][3]) if info else 1
                log.info("redis: recovered %s of %s (delivery %d)", entry_id, self.key, deliveries)
                self._deliver(entry_id, fields, deliveries)
        next_cursor: bytes = reply[0]
        return next_cursor

    async def _sweep_consumers(self) -> None:
        for info in await self.link.call("XINFO", "CONSUMERS", self.key, self.group):
            fields = dict(zip(info[::2], info[1::2], strict=True))
            name = fields.get(b"name", b"").decode()
            if name != self.consumer and int(fields.get(b"pending", 0)) == 0 and \
                    int(fields.get(b"idle", 0)) > CONSUMER_IDLE:
                await self.link.call("XGROUP", "DELCONSUMER", self.key, self.group, name)

    async def stop(self) -> None:
        """Stop reading, let handlers finish, send scheduled retries back now, then leave the group."""
        self._stopped = True
        for task in self._tasks:
            await stop_task(task)
        await self.runner.drain()
        if self._acked is not None:  # settlements of the last handlers go out before the consumer leaves
            self._flush()
        await asyncio.gather(*self._settling, return_exceptions=True)
        for entry_id, (task, frame, attempt) in list(self._retries.items()):
            await stop_task(task)
            await self._requeue(entry_id, frame, attempt)
        with contextlib.suppress(Exception):
            if not await self.link.call("XPENDING", self.key, self.group, "-", "+", 1, self.consumer):
                await self.link.call("XGROUP", "DELCONSUMER", self.key, self.group, self.consumer)


class RequestReader:
    """Pops requests for an endpoint from its list, at most as many as there are free slots."""

    def __init__(self, options: Options, key: str, runner: Runner, subject: str) -> None:
        self.options = options
        self.key = key
        self.subject = subject
        self.runner = runner
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        conn: rconn.AbstractConnection | None = None
        delay = 0.05
        try:
            while True:
                count = await self.runner.wait_room()
                try:
                    conn = await _blocking(self.options, conn)
                    await conn.send_packed_command(pack(("BLMPOP", BLOCK, 1, self.key, "LEFT", "COUNT", count)),
                                                   check_health=False)
                    reply = await _read_blocking(conn)
                    delay = 0.05
                except (rexc.RedisError, OSError) as exc:
                    log.warning("redis: reading %s: %s; retrying", self.key, broker_error(exc, self.options.url))
                    await close_connection(conn)
                    conn = None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 1.0)
                    continue
                if reply:
                    now = time.time() * 1000
                    for frame in reply[1]:
                        self._deliver(frame, now)
        finally:
            await close_connection(conn)

    def _deliver(self, frame: bytes, now: float) -> None:
        message, expires = read_request(frame, self.subject, f"redis {self.key}")
        if expires > now:  # the requester has given up otherwise
            self.runner.submit(message)

    async def stop(self) -> None:
        await stop_task(self._task)


def _quiet(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("redis: settling failed: %s", future.exception())
