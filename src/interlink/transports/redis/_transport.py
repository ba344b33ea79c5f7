"""``redis://`` transport: Redis Streams for durable channels, lists for requests, pub/sub for live ones.

URL: ``redis://[[user]:password@]host[:port][/db][?option=value...]``
(``rediss://`` for TLS, ``unix:///path.sock``; users, TLS files and ``tls=``:
:mod:`interlink.transports.redis._url`). interlink's own options:
``prefix`` (default ``il``), ``maxlen`` (entries per stream, default 100000),
``retention`` (seconds a durable group outlives its last member, default 7
days), ``dead_maxlen`` (dead letters kept, default 100000). Other query options
go to redis-py (for example ``ssl_cert_reqs``). Needs Redis 7.0 or later, a
single server (not Cluster).

Key layout (``P`` is the prefix):

=========================  ==========================================================
``P:q:SUBJECT``            stream of sends to endpoint SUBJECT; consumer group = service
``P:q:SUBJECT:m``          zset: members serving SUBJECT -> lapse time (NoResponders)
``P:rq:SUBJECT``           list of pending requests, popped by one member (BLMPOP);
                           expires with the longest request timeout in it
``P:g:GROUP:PATTERN``      stream of durable publishes for subscription group GROUP
``P:l:GROUP:PATTERN``      (no value) names a live-only subscription group
``P:b::PATTERN``           (no value) says broadcast bindings listen on PATTERN
``P:KIND:...:m``           zset: the running members of the above -> lapse time
``P:r:TOKEN``              zset: groups and broadcast patterns starting with TOKEN
                           (``*`` for a wildcard) -> lapse time; the publish index
``P:p:SUBJECT``            pub/sub channel of publishes, for broadcast bindings
``P:c:CONSUMER``           pub/sub channel of one group member: live-only publishes
``P:in:ID``                pub/sub channel of one connection: replies and inboxes
``P:dead``                 stream of dead letters (browse XRANGE, remove XDEL)
``P:delayed``              zset of delayed messages -> due time (see ``_delayed``)
=========================  ==========================================================

How each style travels:

* request: one script checks ``P:q:SUBJECT:m`` (nobody -> NoResponders at
  once) and RPUSHes onto ``P:rq:SUBJECT``; one member pops it and PUBLISHes the
  reply, with the request's token, to the requester's ``P:in:ID``. One
  subscription per connection serves every request in flight. (Measured here,
  50 in flight: replies by PUBLISH ~82k/s against ~74k/s through a reply list
  drained by BLMPOP, and nothing to clean up when a requester dies.)
* send (notify, async request): XADD to ``P:q:SUBJECT`` (kept while nobody
  reads it; a group created later starts from the beginning of the stream).
* publish: one script reads the index of the subject's first token and of
  wildcard patterns (ZUNION), matches each pattern in Lua, and XADDs to the
  stream of each matching durable group; a live-only publish (or one for a
  live-only group) goes to one running member of each matching group on its
  own channel, never stored; one PUBLISH on ``P:p:SUBJECT`` reaches broadcast
  bindings when one is registered. A stream per subscribing group (rather than
  per published subject) lets a group's consumers read one stream however many
  subjects its pattern covers, and lets settled entries be deleted. The script
  costs ~18 us of Redis time with one matching group (a bare PUBLISH ~4 us);
  its cost grows with the number of groups under the same first token.
* live-only publishes and replies are at most once: they are written without
  waiting for Redis' answer (up to 128 unanswered commands per connection,
  then the caller waits), so a failure after the hand-over is logged, not
  raised. A burst of such publishes goes out in pipelined batches.
* broadcast subscriptions: SUBSCRIBE/PSUBSCRIBE on ``P:p:``
  (``*`` and ``>`` both become glob ``*``, which matches dots too, so every
  message is matched against the pattern again).

Settling durable deliveries: ack and reject are XACK + XDEL (batched);
nack re-adds the entry with its delivery count after the delay and settles the
old one atomically; working is XCLAIM to itself (resets the idle time);
entries idle longer than ``ack_wait`` are taken over with XAUTOCLAIM.
``attempt`` = deliveries recorded in the entry + Redis' delivery count.

Limits: streams hold only unsettled entries, so ``maxlen`` (approximate, whole
nodes of 100 entries) bounds the backlog of a service that is down: beyond it
the oldest are trimmed, read or not. A durable group whose members have all
been gone for ``retention`` is forgotten with its backlog, and so are streams
of endpoints nobody serves. Endpoint streams delete settled entries, so two
services binding the same endpoint subject would take messages from each
other. Members refresh their presence every ~3 s; one that dies without
closing counts as running for up to 10 s, during which requests to it time
out instead of failing with NoResponders. Every endpoint binding holds two
connections (BLMPOP and XREADGROUP), every durable group binding one, every
transport two more (commands, pub/sub).

Durability: a message is kept in Redis until a member settles it, but Redis
keeps data only as well as it is configured to. A server without persistence
(``--save "" --appendonly no``, as on a default test machine) loses every
stream, group and dead letter when it restarts; members re-register and
recreate their groups by themselves. With AOF ``everysec`` up to a second is
lost. Payloads are limited to 8 MiB; large messages to slow pub/sub
subscribers count against Redis' ``client-output-buffer-limit pubsub``
(32 MiB by default), beyond which Redis drops the subscriber's connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
import time
import uuid
from typing import Any

import msgspec
import redis.exceptions as rexc

from interlink._errors import BrokerError, ConnectionLost, InterlinkError, NoResponders, RequestTimeout
from interlink.transports.base import Backlog, Binding, Handler, Message, Subscription, Transport
from interlink.transports.redis import _lua as lua
from interlink.transports.redis._conn import Link, broker_error, stop_task
from interlink.transports.redis._delayed import Delayed
from interlink.transports.redis._frames import decode_message
from interlink.transports.redis._members import Keys, Member
from interlink.transports.redis._pubsub import PubSub
from interlink.transports.redis._streams import LIVE, decode_reply, encode
from interlink.transports.redis._url import Options

log = logging.getLogger("interlink.redis")

_Errors = (rexc.RedisError, OSError)
MIN_VERSION = (7, 0)


class RedisTransport(Transport):
    """A connection to one Redis server (the module docstring has the layout and limits).

    ``durable`` holds as far as Redis persists: without persistence a restart
    of Redis loses every stored message. ``max_payload`` is 8 MiB.

        async with interlink.connect("redis://127.0.0.1:6379/0") as bus:
            await bus.serve(passenger)
    """

    durable = True
    max_payload = 8 * 1024 * 1024

    def __init__(self, url: str, *, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.options = Options.parse(url, tls)
        self.url = self.options.url
        self.id = uuid.uuid4().hex[:12]
        self.keys = Keys(self.options.prefix)
        self.link = Link(self.options)
        self.link.on_reconnect.append(self.beat_soon)
        self._pubsub = PubSub(self.options, self.beat_soon)
        self._channel = self.keys.inbox(self.id)
        self._waiting: dict[str, asyncio.Future[Message]] = {}
        self._inboxes: dict[str, Handler] = {}
        self._members: list[Member] = []
        self._expiries: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Future[None]] = set()
        self._heart: asyncio.Task[None] | None = None
        self._beat_now = asyncio.Event()
        self._started = False
        self._closed = False
        self._delayed = Delayed(self)

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        try:
            await self.link.connect()
            await self._check_version()
            await self._pubsub.start()
            await self._pubsub.subscribe(self._channel, self._on_inbox)
        except (*_Errors, TimeoutError, InterlinkError) as exc:
            await self._pubsub.close()
            await self.link.close()
            raise broker_error(exc, self.url, connecting=True) from None
        self._started = True
        self._heart = asyncio.create_task(self._heartbeat())

    async def _check_version(self) -> None:
        try:
            info = await self.link.call("INFO", "server")
        except rexc.ResponseError:  # INFO disabled by the operator: assume a recent server
            return
        for line in info.decode(errors="replace").splitlines():
            if line.startswith("redis_version:"):
                version = tuple(int(p) for p in line.split(":", 1)[1].split(".")[:2] if p.isdigit())
                if version < MIN_VERSION:
                    raise BrokerError(f"{self.url}: Redis {line.split(':', 1)[1]} is too old; interlink needs 7.0+")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._delayed.stop()
        await asyncio.gather(*(m.stop() for m in list(self._members)), return_exceptions=True)
        await stop_task(self._heart)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(BrokerError(f"{self.url}: transport closed while waiting for a reply"))
        await self._pubsub.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)
        await self.link.close()

    def _check_open(self) -> None:
        if not self._started or self._closed:
            raise BrokerError(f"{self.url}: transport is not started" if not self._closed
                              else f"{self.url}: transport is closed")

    def beat_soon(self) -> None:
        """Refresh presence now (after a reconnection: Redis may have restarted empty)."""
        self._beat_now.set()

    async def _heartbeat(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._beat_now.wait(), LIVE / 3)
            self._beat_now.clear()
            if self.link.stalled():
                await self.link.reset("Redis stopped answering")
            results = await asyncio.gather(*(m.beat() for m in self._members), return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    log.warning("redis: heartbeat: %s", broker_error(result, self.url))
                    break

    # -- sending -----------------------------------------------------------

    async def request(self, message: Message, timeout: float) -> Message:
        self._check_open()
        loop = asyncio.get_running_loop()
        token = f"r{next(self._ids)}"
        future: asyncio.Future[Message] = loop.create_future()
        self._waiting[token] = future
        subject = message.subject
        handle = loop.call_later(timeout, _expire, future, subject, timeout)
        frame = encode((subject, message.headers, message.body, f"{self._channel}|{token}",
                        int((time.time() + timeout) * 1000)))
        try:
            if not self.link.connected:
                await self.link.ensure(timeout)
            queued = await self.link.script(lua.REQUEST, [self.keys.members(self.keys.endpoint(subject)),
                                                          self.keys.requests(subject)],
                                            [frame, max(1, int(timeout * 1000))])
            if not queued:
                raise NoResponders(f"no instance serves {subject!r}")
            return await future
        except _Errors as exc:
            raise broker_error(exc, self.url) from None
        finally:
            handle.cancel()
            del self._waiting[token]

    async def send(self, message: Message) -> None:
        self._check_open()
        key = self.keys.endpoint(message.subject)
        add = ("XADD", key, "MAXLEN", "~", self.options.maxlen, "*", "f",
               encode((message.subject, message.headers, message.body)))
        for again in (True, False):
            try:
                if self._expiry_due(key):  # a stream nobody reads must not stay forever
                    await self.link.pipeline(add, ("PEXPIRE", key, int(self.options.retention * 1000)))
                else:
                    await self.link.call(*add)
                return
            except ConnectionLost:  # it may have been stored: sending again is at-least-once, as promised
                if not again:
                    raise
            except _Errors as exc:
                raise broker_error(exc, self.url) from None

    def _expiry_due(self, key: str) -> bool:
        """True once in a while per stream: refreshing its expiry on every send would double the commands."""
        now = time.monotonic()
        if self._expiries.get(key, 0.0) > now:
            return False
        if len(self._expiries) > 10_000:
            self._expiries.clear()
        self._expiries[key] = now + min(self.options.retention / 10, 3600.0)
        return True

    async def publish(self, message: Message, *, durable: bool = True) -> None:
        self._check_open()
        subject = message.subject
        keys = self.keys
        script_keys = [keys.index(subject.split(".", 1)[0]), keys.index("*")]
        args: list[Any] = [subject, encode((subject, message.headers, message.body)), "1" if durable else "0",
                           self.options.maxlen, keys.channel(subject), keys.member()]
        # a live-only publish promises nothing once handed over: it does not wait for Redis' answer
        if not durable and self.link.script_nowait(lua.PUBLISH, script_keys, args):
            return
        for again in (durable, False):  # a durable publish is at-least-once: sent again if the link dropped
            try:
                await self.link.script(lua.PUBLISH, script_keys, args)
                return
            except ConnectionLost:
                if not again:
                    raise
            except _Errors as exc:
                raise broker_error(exc, self.url) from None

    async def reply(self, address: str, message: Message) -> None:
        self._check_open()
        channel, _, token = address.rpartition("|")
        if not channel.startswith(f"{self.options.prefix}:in:"):
            raise BrokerError(f"{self.url}: {address!r} is not a reply address of this broker")
        frame = encode((token, message.subject, message.headers, message.body))
        # at most once: the requester's timeout covers a reply lost on the way
        if self.link.send_nowait("PUBLISH", channel, frame):
            return
        try:
            await self.link.call("PUBLISH", channel, frame)
        except _Errors as exc:
            raise broker_error(exc, self.url) from None

    async def inbox(self, handler: Handler) -> str:
        self._check_open()
        token = f"i{next(self._ids)}"
        self._inboxes[token] = handler
        return f"{self._channel}|{token}"

    def _on_inbox(self, data: bytes) -> None:
        try:
            token, subject, headers, body = decode_reply(data)
        except (msgspec.DecodeError, msgspec.ValidationError):  # no token: nobody to give it to
            log.warning("redis: dropped a reply on %s that is not [token, subject, headers, body]", self._channel)
            return
        future = self._waiting.get(token)
        if future is not None:
            if not future.done():
                future.set_result(Message(subject, body, headers))
            return
        handler = self._inboxes.get(token)
        if handler is not None:  # else: a late reply to a finished request, dropped quietly
            task = asyncio.ensure_future(handler(Message(subject, body, headers)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def schedule(self, message: Message, due: float, *, publish: bool) -> None:
        """A ZADD to ``P:delayed`` (see :mod:`interlink.transports.redis._delayed`)."""
        self._check_open()
        try:
            await self._delayed.schedule(message, due, publish)
        except _Errors as exc:
            raise broker_error(exc, self.url) from None

    # -- dead letters --------------------------------------------------------

    async def dead_letter(self, message: Message) -> None:
        self._check_open()
        frame = encode((message.subject, message.headers, message.body))
        try:
            await self.link.call("XADD", self.keys.dead, "MAXLEN", "~", self.options.dead_maxlen, "*", "f", frame)
        except _Errors as exc:
            raise broker_error(exc, self.url) from None

    async def dead_letters(self, limit: int = 1000) -> list[Message]:
        self._check_open()
        try:
            entries = await self.link.call("XRANGE", self.keys.dead, "-", "+", "COUNT", max(0, limit))
        except _Errors as exc:
            raise broker_error(exc, self.url) from None
        return [m for _, fields in entries if (m := _dead(fields)) is not None]

    async def remove_dead_letters(self, message_ids: set[str] | None = None) -> int:
        self._check_open()
        key = self.keys.dead
        try:
            if message_ids is None:
                removed: int = await self.link.script(lua.DROP, [key], [])
                return removed
            removed = 0
            start = "-"
            while True:
                entries = await self.link.call("XRANGE", key, start, "+", "COUNT", 500)
                doomed = [entry_id for entry_id, fields in entries
                          if (m := _dead(fields)) is not None and m.headers.get("il-id") in message_ids]
                if doomed:
                    removed += await self.link.call("XDEL", key, *doomed)
                if len(entries) < 500:
                    return removed
                start = "(" + entries[-1][0].decode()
        except _Errors as exc:
            raise broker_error(exc, self.url) from None

    # -- receiving -----------------------------------------------------------

    async def consume(self, binding: Binding, handler: Handler) -> Subscription:
        self._check_open()
        member = Member(self, self._pubsub, binding, handler, f"{self.id}-{next(self._ids)}")
        try:
            await member.start()
        except (*_Errors, TimeoutError, InterlinkError) as exc:
            await member.stop()
            raise broker_error(exc, self.url) from None
        self._members.append(member)
        if binding.durable:
            self._delayed.start_mover()  # where services run, due delayed messages move
        return member

    async def backlog(self) -> list[Backlog]:
        """The durable groups this connection consumes (one row per group, however many members here)."""
        rows: dict[tuple[str, str], Backlog] = {}
        try:
            for member in list(self._members):
                row = await member.backlog()
                if row is not None:
                    rows[(row.kind, row.subject)] = row
        except (*_Errors, TimeoutError) as exc:
            raise broker_error(exc, self.url) from None
        return list(rows.values())

    def forget(self, member: Member) -> None:
        with contextlib.suppress(ValueError):
            self._members.remove(member)


def _expire(future: asyncio.Future[Message], subject: str, timeout: float) -> None:
    if not future.done():
        future.set_exception(RequestTimeout(f"no reply from {subject!r} within {timeout:.3f}s"))


def _dead(fields: list[bytes]) -> Message | None:
    try:
        subject, headers, body = decode_message(fields[1])
    except (msgspec.DecodeError, msgspec.ValidationError, IndexError):
        return None
    return Message(subject, body, headers)
