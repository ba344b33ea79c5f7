"""Connections of the Redis transport, on redis-py's asyncio connection class.

``Link`` multiplexes the commands of every task of a transport on one
connection: commands issued in the same loop iteration are written together
(pipelined) and their replies, which Redis returns in order, resolve one
future each. That avoids a connection checkout per command and a round trip
per command under load. Blocking reads (XREADGROUP BLOCK, BLMPOP, pub/sub)
each get a dedicated connection from :meth:`Options.connection`.

Every redis-py error becomes an interlink error in :func:`broker_error`, the
one place where the client's exceptions are translated.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
from collections import deque
from typing import Any

import redis.asyncio.connection as rconn
import redis.exceptions as rexc

from interlink._errors import BrokerError, ConnectionLost, InterlinkError
from interlink.transports.redis._url import CONNECT_TIMEOUT, Options

COMMAND_TIMEOUT = 10.0  # a command without a reply for this long means the connection is dead
RECONNECT_WAIT = 5.0  # how long a call waits for Redis to come back before it fails
NOWAIT_WINDOW = 128  # unanswered commands beyond which send_nowait waits: bounds the queue and a burst's latency
WRITE_BUFFER = 4 * 1024 * 1024  # bytes queued for the socket before callers wait for it to drain

log = logging.getLogger("interlink.redis")


def broker_error(exc: BaseException, where: str, *, connecting: bool = False) -> InterlinkError:
    """The interlink error for a redis-py (or socket) error: the one translation point.

    ``connecting``: the error came from opening the first connection (start()).
    """
    if isinstance(exc, InterlinkError):
        return exc
    text = str(exc) or type(exc).__name__
    if isinstance(exc, rexc.AuthenticationError | rexc.AuthenticationWrongNumberOfArgsError) or (
            isinstance(exc, rexc.ResponseError) and text.startswith(("WRONGPASS", "NOAUTH", "invalid password"))):
        return BrokerError(f"{where}: authentication failed: {text}")
    if isinstance(exc, rexc.ResponseError):
        return BrokerError(f"{where}: Redis refused the command: {text}")
    if isinstance(exc, rexc.ConnectionError | rexc.TimeoutError | OSError | TimeoutError):
        if connecting:
            return BrokerError(f"cannot connect to {where}: {_reason(exc)} ({text})")
        return ConnectionLost(f"{where}: connection lost: {text}")
    return BrokerError(f"{where}: {type(exc).__name__}: {text}")


def _reason(exc: BaseException) -> str:
    """A short cause ("connection refused", "timed out") from the chain of a connection error."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError | rexc.TimeoutError):
            return f"timed out after {CONNECT_TIMEOUT:.0f}s"
        if isinstance(seen, OSError) and seen.errno:
            return os.strerror(seen.errno).lower()
        seen = seen.__cause__ or seen.__context__
    return "connection failed"


async def open_connection(options: Options, *, timeout: float | None) -> rconn.AbstractConnection:
    """A new connected connection; raises redis-py errors (callers translate them)."""
    conn = options.connection(timeout=timeout)
    try:
        await conn.connect()  # type: ignore[no-untyped-call]
    except BaseException:
        await close_connection(conn)
        raise
    return conn


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait for it to end.

    Cancels again until it does: Python 3.11's ``asyncio.wait_for`` (inside
    redis-py) can swallow a cancellation that arrives as its operation completes.
    """
    while task is not None and not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)


async def close_connection(conn: rconn.AbstractConnection | None) -> None:
    if conn is not None:
        with contextlib.suppress(Exception):
            await conn.disconnect(nowait=True)


def pack(args: tuple[Any, ...]) -> bytes:
    """One command in RESP (redis-py's packer is general, and slow on the hot path)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int):
            data = b"%d" % arg
        elif isinstance(arg, float):
            data = repr(arg).encode()
        else:
            raise TypeError(f"cannot send a {type(arg).__name__} to Redis")
        parts += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(parts)


class Script:
    """A Lua script run by its SHA, loaded again when Redis has forgotten it (after a restart)."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


class Link:
    """One connection shared by every task of a transport, pipelining their commands.

    ``call`` reconnects by itself (waiting up to RECONNECT_WAIT for Redis);
    commands in flight when the connection drops fail with ConnectionLost,
    since they may or may not have run.
    """

    def __init__(self, options: Options) -> None:
        self.options = options
        self._conn: rconn.AbstractConnection | None = None
        self._pending: deque[asyncio.Future[Any]] = deque()
        self._out: list[bytes] = []
        self._flushing = False
        self._writer: asyncio.StreamWriter | None = None
        self._retrying: set[asyncio.Future[Any]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._progress = 0.0
        self._closed = False
        self.on_reconnect: list[Any] = []  # callables run (soon) after a reconnection
        self._connected_once = False

    async def connect(self) -> None:
        """Connect now; raises the redis-py error on failure (for start() to translate)."""
        async with self._lock:
            if self._conn is not None:
                return
            conn = await open_connection(self.options, timeout=None)
            self._conn = conn
            # redis-py offers no synchronous write; its StreamWriter lets commands go out without a task switch
            self._writer = conn._writer
            self._tasks = [asyncio.create_task(self._read(conn))]
            if self._connected_once:
                for callback in self.on_reconnect:
                    callback()
            self._connected_once = True

    @property
    def connected(self) -> bool:
        return self._conn is not None

    async def _reconnect(self, wait: float = RECONNECT_WAIT) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + wait
        delay = 0.05
        while True:
            if self._closed:
                raise ConnectionLost(f"{self.options.url}: transport is closed")
            try:
                await self.connect()
                return
            except (rexc.RedisError, OSError) as exc:
                if loop.time() + delay > end:
                    raise broker_error(exc, self.options.url) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _ready(self, wait: float = RECONNECT_WAIT) -> rconn.AbstractConnection:
        """The connection, reconnecting first if needed (trying for up to ``wait`` seconds)."""
        conn = self._conn
        if conn is None:
            await self._reconnect(wait)
            conn = self._conn
            if conn is None:  # closed meanwhile
                raise ConnectionLost(f"{self.options.url}: transport is closed")
        return conn

    def _push(self, commands: list[tuple[Any, ...]]) -> list[asyncio.Future[Any]]:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        self._out.extend(pack(args) for args in commands)
        if not self._pending:  # an idle link: write at once, latency is what counts
            self._progress = loop.time()
            self._pending.extend(futures)
            self._flush()
        else:  # a busy one: gather this loop iteration's commands into one write
            self._pending.extend(futures)
            if not self._flushing:
                self._flushing = True
                loop.call_soon(self._flush)
        return futures

    def _flush(self) -> None:
        self._flushing = False
        out, self._out = self._out, []
        writer = self._writer
        if not out or writer is None:
            return
        try:
            writer.writelines(out)
        except (OSError, RuntimeError) as exc:  # the reader sees the broken socket too
            log.debug("redis: write failed: %s", exc)

    async def _backpressure(self) -> None:
        """Wait while the socket's send buffer is full (a flood of large messages)."""
        writer = self._writer
        if writer is not None and writer.transport.get_write_buffer_size() > WRITE_BUFFER:
            await writer.drain()

    async def ensure(self, wait: float) -> None:
        """Be connected, or raise within about ``wait`` seconds (a request's timeout bounds its wait)."""
        if self._conn is None:
            await self._ready(max(wait, 0.05))

    async def call(self, *args: Any) -> Any:
        """Run one command; its reply (raw, as hiredis parses RESP2)."""
        if self._conn is None:
            await self._ready()
        writer = self._writer
        if writer is not None and writer.transport.get_write_buffer_size() > WRITE_BUFFER:
            await self._backpressure()
            await self._ready()
        return await self._push([args])[0]

    async def pipeline(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Run several commands written together; raises the first error after all have answered."""
        if self._conn is None:
            await self._ready()
        futures = self._push(list(commands))
        results: list[Any] = []
        error: BaseException | None = None
        for future in futures:
            try:
                results.append(await future)
            except rexc.ResponseError as exc:
                error = error or exc
                results.append(exc)
        if error is not None:
            raise error
        return results

    def send_nowait(self, *args: Any, script: Script | None = None) -> bool:
        """Send a command without waiting for its reply; False when that cannot be done now.

        For at-most-once traffic (live-only publishes, replies): the caller
        saves a round trip. Order on the connection is kept; a ``script`` Redis
        has forgotten (``args`` is its EVALSHA) is loaded and run again; other
        failures are logged. Refused while disconnected or while too many
        replies are outstanding: the caller then waits, which is the back-pressure.
        """
        writer = self._writer
        if (self._conn is None or writer is None or len(self._pending) >= NOWAIT_WINDOW
                or writer.transport.get_write_buffer_size() > WRITE_BUFFER):
            return False
        future = self._push([args])[0]
        future.add_done_callback(lambda f: self._sent(f, args, script))
        return True

    def script_nowait(self, script: Script, keys: list[str], args: list[Any]) -> bool:
        return self.send_nowait("EVALSHA", script.sha, len(keys), *keys, *args, script=script)

    def _sent(self, future: asyncio.Future[Any], args: tuple[Any, ...], script: Script | None) -> None:
        if future.cancelled() or future.exception() is None:
            return
        exc = future.exception()
        if script is not None and isinstance(exc, rexc.NoScriptError) and not self._closed:
            task = asyncio.ensure_future(self.script(script, list(args[3:3 + args[2]]), list(args[3 + args[2]:])))
            self._retrying.add(task)
            task.add_done_callback(self._retried)
        else:
            log.warning("redis: %s", broker_error(exc or Exception(), self.options.url))

    def _retried(self, task: asyncio.Future[Any]) -> None:
        self._retrying.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("redis: %s", broker_error(task.exception() or Exception(), self.options.url))

    async def script(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except rexc.NoScriptError:
            await self.call("SCRIPT", "LOAD", script.source)
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)

    async def _read(self, conn: rconn.AbstractConnection) -> None:
        pending = self._pending
        loop = asyncio.get_running_loop()
        while True:
            try:
                reply = await conn.read_response(timeout=math.inf, disconnect_on_error=False)
            except rexc.ResponseError as exc:
                reply = exc
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                await self._lost(conn, exc)
                return
            self._progress = loop.time()
            if not pending:  # a reply nobody waits for: the stream is out of step
                await self._lost(conn, rexc.InvalidResponse("unexpected reply"))
                return
            future = pending.popleft()
            if not future.done():
                if isinstance(reply, rexc.ResponseError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)

    def stalled(self) -> bool:
        """True when a command has waited longer than COMMAND_TIMEOUT (checked by the transport's timer)."""
        return bool(self._pending) and asyncio.get_running_loop().time() - self._progress > COMMAND_TIMEOUT

    async def reset(self, reason: str) -> None:
        conn = self._conn
        if conn is not None:
            await self._lost(conn, rexc.TimeoutError(reason))

    async def _lost(self, conn: rconn.AbstractConnection, exc: BaseException) -> None:
        if self._conn is not conn:
            return
        self._conn = None
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._tasks = []
        pending, self._pending = self._pending, deque()
        self._out = []
        self._writer = None
        error = broker_error(exc, self.options.url)
        for future in pending:
            if not future.done():
                future.set_exception(ConnectionLost(str(error)))
        await close_connection(conn)

    async def close(self) -> None:
        """Disconnect once the replies still outstanding (unawaited sends among them) have come in."""
        if self._pending:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*self._pending, return_exceptions=True), 2.0)
        self._closed = True
        conn = self._conn
        if conn is not None:
            await self._lost(conn, ConnectionLost("transport closed"))
