"""The pub/sub connection of a Redis transport: replies, inboxes and live bindings.

One dedicated connection per transport holds every SUBSCRIBE and PSUBSCRIBE.
Callbacks run on the reader task and must not block (they hand messages to a
Runner or resolve a future). When the connection drops, the reader reconnects
with backoff and subscribes again; messages published meanwhile are lost, as
pub/sub promises nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import redis.asyncio.connection as rconn
import redis.exceptions as rexc

from interlink.transports.redis._conn import broker_error, close_connection, open_connection, stop_task
from interlink.transports.redis._url import Options

log = logging.getLogger("interlink.redis")

Callback = Callable[[bytes], None]  # receives the message data


class PubSub:
    def __init__(self, options: Options, on_reconnect: Callable[[], None]) -> None:
        self._options = options
        self._on_reconnect = on_reconnect
        self._conn: rconn.AbstractConnection | None = None
        # (b"channel" | b"pattern", name) -> callbacks; one Redis subscription per name
        self._subs: dict[tuple[bytes, bytes], list[Callback]] = {}
        self._confirm: dict[tuple[bytes, bytes], list[asyncio.Future[None]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        """Connect; raises the redis-py error on failure (the transport translates it)."""
        self._conn = conn = await open_connection(self._options, timeout=None)
        self._reader = asyncio.create_task(self._read(conn))

    async def subscribe(self, channel: str, callback: Callback, *, pattern: bool = False) -> None:
        """Deliver messages of ``channel`` (a Redis glob when ``pattern``) to ``callback``; returns once live."""
        key = (b"pattern" if pattern else b"channel", channel.encode())
        callbacks = self._subs.get(key)
        if callbacks is not None:
            callbacks.append(callback)
            if key not in self._confirm:
                return
            confirmed = asyncio.get_running_loop().create_future()
            self._confirm[key].append(confirmed)
        else:
            self._subs[key] = [callback]
            confirmed = asyncio.get_running_loop().create_future()
            self._confirm[key] = [confirmed]
            await self._command(b"PSUBSCRIBE" if pattern else b"SUBSCRIBE", key[1])
        await asyncio.wait_for(asyncio.shield(confirmed), 10.0)

    async def unsubscribe(self, channel: str, callback: Callback, *, pattern: bool = False) -> None:
        key = (b"pattern" if pattern else b"channel", channel.encode())
        callbacks = self._subs.get(key)
        if callbacks is None or callback not in callbacks:
            return
        callbacks.remove(callback)
        if not callbacks:
            del self._subs[key]
            await self._command(b"PUNSUBSCRIBE" if pattern else b"UNSUBSCRIBE", key[1])

    async def _command(self, *args: bytes) -> None:
        conn = self._conn
        if conn is None:  # reconnecting: the reader subscribes to everything in _subs when it is back
            return
        try:
            await conn.send_command(*args, check_health=False)
        except (rexc.RedisError, OSError) as exc:
            log.warning("redis pub/sub: %s", broker_error(exc, self._options.url))

    async def _read(self, conn: rconn.AbstractConnection) -> None:
        delay = 0.05
        while not self._closed:
            try:
                while True:
                    reply = await conn.read_response(timeout=float("inf"), disconnect_on_error=False)
                    self._dispatch(reply)
            except asyncio.CancelledError:
                raise
            except rexc.ResponseError as exc:  # a subscription refused (an ACL): the connection is fine
                self._refused(exc)
                continue
            except (rexc.RedisError, OSError) as exc:
                if self._closed:
                    return
                log.warning("redis pub/sub: %s; reconnecting", broker_error(exc, self._options.url))
            await close_connection(conn)
            self._conn = None
            while not self._closed:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                try:
                    conn = await open_connection(self._options, timeout=None)
                    self._conn = conn
                    for kind, name in list(self._subs):
                        await conn.send_command(b"PSUBSCRIBE" if kind == b"pattern" else b"SUBSCRIBE", name,
                                                check_health=False)
                    break
                except (rexc.RedisError, OSError):
                    await close_connection(conn)
                    self._conn = None
            delay = 0.05
            self._on_reconnect()

    def _refused(self, exc: rexc.ResponseError) -> None:
        """Redis answers in order: the refusal is for the oldest subscription not yet confirmed."""
        if not self._confirm:
            log.warning("redis pub/sub: %s", broker_error(exc, self._options.url))
            return
        key = next(iter(self._confirm))
        self._subs.pop(key, None)
        error = broker_error(exc, f"{self._options.url}: subscribe {key[1].decode(errors='replace')!r}")
        for future in self._confirm.pop(key):
            if not future.done():
                future.set_exception(error)

    def _dispatch(self, reply: list[bytes]) -> None:
        kind = reply[0]
        if kind == b"message":
            callbacks, data = self._subs.get((b"channel", reply[1]), ()), reply[2]
        elif kind == b"pmessage":
            callbacks, data = self._subs.get((b"pattern", reply[1]), ()), reply[3]
        else:
            callbacks, data = (), b""
        for callback in callbacks:
            try:
                callback(data)
            except Exception:  # one bad message must not stop the connection's reader
                log.exception("redis pub/sub: a message could not be handed over")
        if kind in (b"subscribe", b"psubscribe"):
            key = (b"channel" if kind == b"subscribe" else b"pattern", reply[1])
            for future in self._confirm.pop(key, ()):
                if not future.done():
                    future.set_result(None)

    async def close(self) -> None:
        self._closed = True
        await stop_task(self._reader)
        await close_connection(self._conn)
        self._conn = None
        for futures in self._confirm.values():
            for future in futures:
                future.cancel()
        self._confirm.clear()
