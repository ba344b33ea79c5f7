"""The JetStream side of the NATS transport: the streams interlink keeps, the
durable consumers of services, the pull loop that feeds a binding, and the
dead-letter browser.

The streams, their replicas and how an existing one is adopted are described in
:mod:`interlink.transports.nats._streams`.

Consumers are durable (replicated as their stream is),
pulled with explicit acks and unlimited redeliveries (the bus decides retries),
and removed by the server after 3 days without a member:

* one per endpoint on the work stream, ``endpoint_<subject>_<digest>``,
  filtered on that exact subject (so filters never overlap), shared by the
  instances of the service that serves it; a work-queue message whose consumer
  was removed stays and is delivered when the service returns;
* one per (service, subscription pattern) on the events stream,
  ``<service>_<pattern>_<digest>``, delivering what is published after it was
  first created; what only a removed consumer still needed goes with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from interlink._errors import BrokerError, InterlinkError
from interlink.transports.base import Message
from interlink.transports.nats._client import FastClient, parse_headers
from interlink.transports.nats._frame import unframe
from interlink.transports.nats._options import DAY, Options
from interlink.transports.nats._retry import retrying
from interlink.transports.nats._streams import DEAD_STREAM, check_existing, replicas_for, stream_configs
from interlink.transports.nats._support import (
    DEAD,
    MSG_ID,
    PENDING,
    STATUS,
    JetStreamReceipt,
    Pool,
    Settler,
    broker_errors,
    delivery_count,
    describe,
    drain,
    log,
    safe_url,
)

T = TypeVar("T")

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

CONSUMER_IDLE = 3 * DAY
PULL_EXPIRES = 30.0  # a pull request lives this long, then the server answers 408 and we pull again
HEARTBEAT = 2.0  # the server confirms an open pull request this often (status 100)
WATCHDOG = 3 * HEARTBEAT  # silence this long: our pull requests were lost (a consumer leader lost, say)
API_PREFIX = "$JS.API"
STREAM_IN_USE = 10058  # "stream name already in use with a different configuration"
NO_PLACEMENT = (10005, 10023)  # "no suitable peers for placement", "insufficient resources"
FILTER_TAKEN = 10100  # "filtered consumer not unique on workqueue stream"

def consumer_config(name: str, filter_subject: str, *, new_only: bool, inflight: int,
                    ack_wait: float, idle: float) -> ConsumerConfig:
    """A service's durable pull consumer, removed by the server ``idle`` seconds after its last member.
    Each member bounds its own prefetch to ``inflight``; the server-wide cap leaves room for 64 members
    at full prefetch."""
    return ConsumerConfig(
        name=name, durable_name=name, filter_subject=filter_subject,
        deliver_policy=DeliverPolicy.NEW if new_only else DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait, max_deliver=-1,
        max_ack_pending=64 * inflight, inactive_threshold=idle,
    )


class JetStream:
    """Stream and consumer management, and the dead-letter browser, on one connection."""

    def __init__(self, client: FastClient, options: Options) -> None:
        self.client = client
        self.url = options.url
        self.jsm = client.jsm()
        self.settler = Settler(client, self.url)
        try:
            self.replicas = replicas_for(options, client._server_info)
        except BrokerError as exc:
            raise BrokerError(f"{safe_url(self.url)}: {exc}") from None
        self.exact_replicas = options.replicas is not None
        self.streams = stream_configs(options, self.replicas)
        self._checked: set[str] = set()

    async def api(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        """A JetStream API call, retried through leader elections (see ``_retry``)."""
        return await retrying(self.client, call, what)

    async def ensure_streams(self) -> None:
        """Create the streams that are missing; check (once) those that exist, never changing them."""
        if not self.client._server_info.get("jetstream"):
            raise BrokerError(f"{safe_url(self.url)}: JetStream is not enabled on this server "
                              "(start nats-server with -js)")
        with broker_errors(self.url, "declare streams"):
            for wanted in self.streams:
                await self._ensure_stream(wanted)

    async def _ensure_stream(self, wanted: StreamConfig) -> None:
        name = wanted.name or ""
        found = await self._stream_config(name)
        if found is None:
            try:
                await self.api(lambda: self.jsm.add_stream(wanted), f"create stream {name}")
                self._checked.add(name)
                return
            except BadRequestError as exc:
                if exc.err_code in NO_PLACEMENT:
                    raise BrokerError(f"{safe_url(self.url)}: cannot place stream {name} on "
                                      f"{wanted.num_replicas} nodes: {describe(exc)} (is a node down? "
                                      "replicas=N chooses fewer)") from None
                if exc.err_code != STREAM_IN_USE:
                    raise
            found = await self._stream_config(name)  # created meanwhile by another instance
            if found is None:
                raise BrokerError(f"{safe_url(self.url)}: stream {name} could not be created")
        if name not in self._checked:
            self._checked.add(name)
            check_existing(safe_url(self.url), wanted, found, exact_replicas=self.exact_replicas)

    async def _stream_config(self, name: str) -> StreamConfig | None:
        try:
            return (await self.api(lambda: self.jsm.stream_info(name), f"stream {name}")).config
        except NotFoundError:
            return None

    async def ensure_consumer(self, stream: str, config: ConsumerConfig) -> ConsumerConfig:
        """Create the durable consumer, or update it to ``config``: idempotent.

        On the work stream one consumer holds each filter. If one named otherwise
        already does (kept from an earlier naming, say), it is adopted rather than
        refused, so its stored messages are not stranded. Returns the config used.
        """
        with broker_errors(self.url, f"consumer {config.name} on {stream}"):
            try:
                await self.api(lambda: self.jsm.add_consumer(stream, config), f"consumer {config.name}")
                return config
            except BadRequestError as exc:
                if exc.err_code != FILTER_TAKEN:
                    raise
            holder = await self._holder(stream, config.filter_subject or "")
            if holder is None:
                raise BrokerError(f"{safe_url(self.url)}: another consumer holds {config.filter_subject}")
            adopted = dataclasses.replace(config, name=holder, durable_name=holder)
            await self.api(lambda: self.jsm.add_consumer(stream, adopted), f"consumer {holder}")
            return adopted

    async def _holder(self, stream: str, filter_subject: str) -> str | None:
        offset = 0
        while True:
            page = await self.api(functools.partial(self.jsm.consumers_info, stream, offset), f"consumers of {stream}")
            for info in page:
                if info.config.filter_subject == filter_subject:
                    return info.name
            if not page:
                return None
            offset += len(page)

    async def browse_dead(self, limit: int) -> list[tuple[int, Message]]:
        """Up to ``limit`` dead letters with their stream sequence, oldest first, without consuming them."""
        with broker_errors(self.url, "dead letters"):
            info = await self.api(lambda: self.jsm.stream_info(DEAD_STREAM), "dead letters")
            count = min(limit, info.state.messages)
            if count <= 0:
                return []
            name = f"browse_{uuid.uuid4().hex}"
            await self.jsm.add_consumer(DEAD_STREAM, ConsumerConfig(
                name=name, ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                inactive_threshold=30.0, mem_storage=True, num_replicas=1))
            try:
                return await self._read(name, count)
            finally:
                with contextlib.suppress(Exception):
                    await self.jsm.delete_consumer(DEAD_STREAM, name)

    async def _read(self, consumer: str, count: int) -> list[tuple[int, Message]]:
        got: list[tuple[int, Message]] = []
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def on_message(msg: Msg) -> None:
            if msg.reply:
                headers, body, _ = unframe(msg.data, msg.headers)
                headers.pop(MSG_ID, None)
                tokens = msg.reply.split(".")
                seq = int(tokens[5] if len(tokens) == 9 else tokens[7])
                got.append((seq, Message(msg.subject[len(DEAD):], body, headers)))
            if (not msg.reply or len(got) >= count) and not done.done():
                done.set_result(None)  # a status means the stream has no more

        inbox = self.client.new_inbox()
        sub = await self.client.subscribe(inbox, cb=on_message)
        try:
            request = json.dumps({"batch": count, "no_wait": True}).encode()
            await self.client.publish(f"{API_PREFIX}.CONSUMER.MSG.NEXT.{DEAD_STREAM}.{consumer}", request, inbox)
            await asyncio.wait_for(done, 10.0)
        finally:
            await sub.unsubscribe()
        return got

    async def remove_dead(self, message_ids: set[str] | None) -> int:
        if message_ids is None:
            with broker_errors(self.url, "purge dead letters"):
                state = (await self.api(lambda: self.jsm.stream_info(DEAD_STREAM), "dead letters")).state
                if state.messages:
                    await self.jsm.purge_stream(DEAD_STREAM, seq=state.last_seq + 1)
                return state.messages
        chosen = [seq for seq, m in await self.browse_dead(1 << 30) if m.headers.get("il-id") in message_ids]
        with broker_errors(self.url, "remove dead letters"):
            for seq in chosen:
                await self.jsm.delete_msg(DEAD_STREAM, seq)
        return len(chosen)


class PullConsumer:
    """One member of a service's durable consumer, feeding a binding's pool.

    The member keeps ``busy + credit <= pool.size``: ``busy`` deliveries are
    being handled, ``credit`` more are asked for by pull requests still open
    (the server's 408 answer says how many of a request were left). It pulls
    again once a quarter of its slots are free. With ``settle=False`` (a
    live-only endpoint) each message is acknowledged on arrival: at most once.
    """

    def __init__(self, jetstream: JetStream, stream: str, config: ConsumerConfig, pool: Pool, *,
                 strip: int, settle: bool) -> None:
        self._js = jetstream
        self._client = jetstream.client
        self._stream = stream
        self._config = config
        self._pool = pool
        self._strip = strip
        self._settle = settle
        self._size = pool.size
        self._threshold = max(1, pool.size // 4)
        self._next = ""
        self._request = b'{"batch":%%d,"expires":%d,"idle_heartbeat":%d}' % (int(PULL_EXPIRES * 1e9),
                                                                           int(HEARTBEAT * 1e9))
        self._inbox = self._client.new_inbox()
        self._credit = 0
        self._busy = 0
        self._active = False
        self._stopped = False
        self._kick = asyncio.Event()
        self._kick_delay = 0.0
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._declare()
        with broker_errors(self._js.url, "subscribe"):
            self._sub = await self._client.subscribe_direct(self._inbox, self._on_message)
            self._pull()
        self._task = asyncio.ensure_future(self._maintain())

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        sub, self._sub = self._sub, None
        if sub is not None:  # our open pull requests die with the subscription
            await drain(self._client, sub)

    def abort(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()

    def resume(self, delay: float = 0.0) -> None:
        """Re-declare the consumer and pull afresh (after a reconnect or a refused pull)."""
        self._kick_delay = delay
        self._kick.set()

    async def _declare(self) -> None:
        self._config = await self._js.ensure_consumer(self._stream, self._config)
        self._next = f"{API_PREFIX}.CONSUMER.MSG.NEXT.{self._stream}.{self._config.name}"

    def _on_message(self, subject: bytes, raw_reply: bytes, data: bytes, raw_headers: bytes | None) -> None:
        headers = parse_headers(raw_headers) if raw_headers is not None else None
        if not raw_reply:
            self._on_status(headers)
            return
        reply = raw_reply.decode(errors="replace")
        self._active = True
        if self._credit:
            self._credit -= 1
        self._busy += 1
        headers, body, defect = unframe(data, headers)
        headers.pop(MSG_ID, None)
        receipt = None
        if self._settle:
            receipt = JetStreamReceipt(self._js.settler, reply)
        else:
            self._js.settler.add(reply, b"+ACK")
        message = Message(subject.decode(errors="replace")[self._strip:], body, headers, None,
                          delivery_count(reply), receipt, defect)
        self._pool.put_nowait(message, self._release)  # never refused: credit bounds the deliveries

    def _on_status(self, headers: dict[str, str] | None) -> None:
        self._active = True
        headers = headers or {}
        code = headers.get(STATUS, "")
        if code == "100":  # idle heartbeat
            return
        pending = headers.get(PENDING, "")
        self._credit = max(0, self._credit - int(pending)) if pending.isdigit() else 0
        if code in ("404", "408"):  # the request ran out: ask again
            self._pull()
        else:  # 409 and the like: the consumer was removed, or the server refused the pull
            log.debug("pull on %s answered %s %s", self._config.name, code, headers.get("Description", ""))
            self.resume(1.0)

    async def _release(self) -> None:
        self._busy -= 1
        self._pull()

    def _pull(self) -> None:
        want = self._size - self._busy - self._credit
        if want < self._threshold or self._stopped or not self._client.is_connected:
            return
        self._credit += want
        try:
            if not self._client.post_nowait(self._next, self._request % want, self._inbox):
                raise ConnectionError("not connected")
        except Exception as exc:  # the reconnect, or the watchdog, pulls again
            self._credit -= want
            log.debug("pull on %s not sent: %s", self._config.name, describe(exc))

    async def _maintain(self) -> None:
        """Re-declares and re-pulls when kicked; restarts pulling after a silence."""
        while not self._stopped:
            try:
                await asyncio.wait_for(self._kick.wait(), WATCHDOG)
            except TimeoutError:
                if not self._active and self._credit:  # open requests went silent: declare anew and pull
                    self.resume()
                elif not self._active:
                    self._pull()
                self._active = False
                continue
            self._kick.clear()
            if self._kick_delay:
                await asyncio.sleep(self._kick_delay)
            try:
                await self._declare()
                self._credit = 0
                self._pull()
            except InterlinkError as exc:
                log.warning("consumer %s: %s; trying again", self._config.name, exc)
                self.resume(1.0)
