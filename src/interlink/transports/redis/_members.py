"""One ``consume()`` call of the Redis transport: what it reads, and its presence in Redis.

============================  ===============================================================
binding                       reads
============================  ===============================================================
endpoint                      its request list (BLMPOP) and the endpoint's stream as one
                              consumer of the service's group
subscription, durable group   the group's stream ``P:g:GROUP:PATTERN`` (durable publishes)
                              and its own channel ``P:c:CONSUMER`` (live-only publishes)
subscription, live group      its own channel ``P:c:CONSUMER``; the group is ``P:l:GROUP:PATTERN``
subscription, broadcast       pub/sub: SUBSCRIBE (exact) or PSUBSCRIBE (``*``/``>`` -> glob
                              ``*``, which also matches dots, so each message is checked
                              against the pattern again)
============================  ===============================================================

Groups of subscriptions are registered in the index of their pattern's first
token, so that a publish finds them. A member announces itself (heartbeat
script) before ``consume`` returns and every few seconds after; it leaves on
stop, and a live-only group whose last member leaves is unregistered.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from interlink._subjects import matches
from interlink.transports.base import Backlog, Binding, Handler
from interlink.transports.redis import _lua as lua
from interlink.transports.redis._frames import read_message
from interlink.transports.redis._pubsub import PubSub
from interlink.transports.redis._streams import LIVE, GroupReader, RequestReader, Runner

if TYPE_CHECKING:
    from interlink.transports.redis._transport import RedisTransport

log = logging.getLogger("interlink.redis")


class Keys:
    """Key and channel names under one prefix (layout in ``interlink.transports.redis``)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.dead = f"{prefix}:dead"

    def endpoint(self, subject: str) -> str:
        return f"{self.prefix}:q:{subject}"

    def requests(self, subject: str) -> str:
        return f"{self.prefix}:rq:{subject}"

    def group(self, group: str, pattern: str, *, durable: bool) -> str:
        return f"{self.prefix}:{'g' if durable else 'l'}:{group}:{pattern}"

    def broadcast(self, pattern: str) -> str:
        return f"{self.prefix}:b::{pattern}"

    def member(self, consumer: str = "") -> str:
        return f"{self.prefix}:c:{consumer}"

    @staticmethod
    def members(stream: str) -> str:
        return f"{stream}:m"

    def index(self, token: str) -> str:
        return f"{self.prefix}:r:{'*' if token in ('*', '>') else token}"

    def channel(self, subject: str) -> str:
        return f"{self.prefix}:p:{subject}"

    def glob(self, pattern: str) -> str:
        return f"{self.prefix}:p:{pattern.replace('>', '*')}"

    def inbox(self, transport_id: str) -> str:
        return f"{self.prefix}:in:{transport_id}"


class Member:
    """The Subscription returned by ``consume``."""

    def __init__(self, transport: RedisTransport, pubsub: PubSub, binding: Binding, handler: Handler,
                 consumer: str) -> None:
        self.transport = transport
        self.binding = binding
        self.consumer = consumer
        self.runner = Runner(handler, binding.max_inflight)
        self._pubsub = pubsub
        self._reader: GroupReader | None = None
        self._requests: RequestReader | None = None
        self._beat_keys: list[str] = []
        self._beat_args: list[str | int] = []
        self._glob: tuple[str, bool] | None = None
        self._channel: str | None = None
        self._stopped = False

    async def backlog(self) -> Backlog | None:
        """What waits for this member's durable group: the group's lag (entries not yet delivered, Redis
        7.0+) and its pending entries list (delivered, not yet acknowledged); None for live-only members."""
        reader = self._reader
        if reader is None or not self.binding.durable:
            return None
        for fields in await self.transport.link.call("XINFO", "GROUPS", reader.key):
            info = dict(zip(fields[::2], fields[1::2], strict=False))
            if info.get(b"name") == reader.group.encode():
                lag = info.get(b"lag")  # nil when Redis cannot tell (entries deleted in between)
                return Backlog(self.binding.name or self.binding.group or "", self.binding.kind,
                               self.binding.pattern, int(lag or 0), int(info.get(b"pending") or 0))
        return None

    async def start(self) -> None:
        binding, keys, options = self.binding, self.transport.keys, self.transport.options
        link = self.transport.link
        live_ms, keep_ms = int(LIVE * 1000), int(options.retention * 1000)
        start_at = "0" if binding.durable else "$"  # a durable group also takes what was sent before it existed
        if binding.kind == "endpoint":
            stream = keys.endpoint(binding.pattern)
            group = binding.group or self.consumer
            self._reader = GroupReader(link, stream, group, self.consumer, binding, self.runner,
                                       self.transport.beat_soon, start_at=start_at)
            self._requests = RequestReader(options, keys.requests(binding.pattern), self.runner, binding.pattern)
            self._beat_keys = [keys.members(stream), stream]
            self._beat_args = [self.consumer, live_ms, keep_ms]
        elif binding.group is not None:
            group = keys.group(binding.group, binding.pattern, durable=binding.durable)
            if binding.durable:
                self._reader = GroupReader(link, group, binding.group, self.consumer, binding, self.runner,
                                           self.transport.beat_soon, start_at=start_at)
            index = keys.index(binding.pattern.split(".", 1)[0])
            self._beat_keys = [keys.members(group), group, index]
            self._beat_args = [self.consumer, live_ms, keep_ms if binding.durable else live_ms]
            self._channel = keys.member(self.consumer)
            await self._pubsub.subscribe(self._channel, self._on_live)
        else:
            pattern = binding.pattern
            wild = "*" in pattern or ">" in pattern
            self._glob = (keys.glob(pattern) if wild else keys.channel(pattern), wild)
            await self._pubsub.subscribe(self._glob[0], self._on_publish, pattern=wild)
            entry = keys.broadcast(pattern)  # tells publishers that someone listens on the subject channel
            self._beat_keys = [keys.members(entry), entry, keys.index(pattern.split(".", 1)[0])]
            self._beat_args = [self.consumer, live_ms, live_ms]
        if self._reader is not None:
            await self._reader.create_group()
        await self.beat()
        if self._reader is not None:
            self._reader.start()
        if self._requests is not None:
            self._requests.start()

    async def beat(self) -> None:
        if self._beat_keys and not self._stopped:
            await self.transport.link.script(lua.BEAT, self._beat_keys, self._beat_args)

    def _on_live(self, data: bytes) -> None:
        """A live-only publish the publisher chose this member of the group for."""
        self.runner.submit(read_message(data, self.binding.pattern, f"redis {self.binding.pattern}"))

    def _on_publish(self, data: bytes) -> None:
        message = read_message(data, self.binding.pattern, f"redis {self.binding.pattern}")
        if message.defect is not None or matches(self.binding.pattern, message.subject):
            self.runner.submit(message)

    async def stop(self) -> None:
        """Leave first (no new requests or live publishes come here), then let handlers finish."""
        if self._stopped:
            return
        self._stopped = True
        self.transport.forget(self)
        if self._beat_keys:
            forget = "0" if self.binding.durable or self.binding.kind == "endpoint" else "1"  # live-only
            try:
                await self.transport.link.script(lua.LEAVE, self._beat_keys, [self.consumer, forget])
            except Exception as exc:  # its presence lapses by itself within LIVE seconds
                log.warning("redis: leaving %s: %s", self._beat_keys[1], exc)
        if self._requests is not None:
            await self._requests.stop()
        if self._reader is not None:
            await self._reader.stop()
        if self._glob is not None:
            await self._pubsub.unsubscribe(self._glob[0], self._on_publish, pattern=self._glob[1])
        if self._channel is not None:
            await self._pubsub.unsubscribe(self._channel, self._on_live)
        await self.runner.drain()
