"""Pieces of the NATS transport that know no JetStream layout: the subject
namespace, error translation, the worker pool and the JetStream receipt.

Every nats-py exception becomes an interlink error in :func:`translate`, and
only there; :func:`broker_errors` applies it to a block.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.subscription import Subscription as NatsSubscription

from interlink._errors import BrokerError, ConnectionLost, InterlinkError, NoResponders, ValidationError
from interlink.transports.base import Handler, Message
from interlink.transports.nats._client import FastClient

log = logging.getLogger("interlink.nats")

# The framework's own subject namespace. Names starting with "_" are reserved, so
# user subjects never collide with these, and requests (always on the user's plain
# subject) are never captured by a stream: a request cannot be answered by a
# JetStream publish acknowledgement.
WORK = "_il.q."  # endpoint sends and notifications (work-queue stream)
EVENT = "_il.e.d."  # durable publishes (events stream)
LIVE = "_il.e.l."  # non-durable publishes (no stream)
ANY_EVENT = "_il.e.*."  # a live-only subscription hears both of the above
DEAD = "_il.dead."  # dead letters (dead-letter stream)
EVENT_PREFIX_LEN = len(EVENT)  # == len(LIVE)

MSG_ID = "Nats-Msg-Id"
STATUS = "Status"
PENDING = "Nats-Pending-Messages"


HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # what a header name may be when interlink sends it


#: The NATS services API (ADR-32) error code of each interlink error code; any other is 500.
SERVICE_ERROR_CODES = {"invalid": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404, "conflict": 409,
                       "unavailable": 503, "timeout": 504}
SERVICE_ERROR = "Nats-Service-Error"
SERVICE_ERROR_CODE = "Nats-Service-Error-Code"
_error_reply = msgspec.json.Decoder(dict[str, Any])


def service_error_headers(headers: dict[str, str], body: bytes) -> dict[str, str]:
    """The ADR-32 error headers of an error reply (``headers``, ``body``), so NATS service clients see an error.

    ``Nats-Service-Error`` is ``"<code>: <message>"`` (one line, at most 1000 characters),
    ``Nats-Service-Error-Code`` the number of SERVICE_ERROR_CODES.
    """
    code = headers.get("il-error", "internal")
    text = code
    if headers.get("content-type", "application/json") == "application/json":
        with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            message = _error_reply.decode(body).get("message")
            if isinstance(message, str) and message:
                text = f"{code}: {message}"
    text = " ".join(text.split())[:1000]
    return {SERVICE_ERROR: text, SERVICE_ERROR_CODE: str(SERVICE_ERROR_CODES.get(code, 500))}


def safe_url(url: str) -> str:
    """``url`` without its password or token, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None and not parts.username:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=f"***@{netloc}"))


def describe(exc: BaseException) -> str:
    """A short, human cause for a nats-py or socket exception."""
    if isinstance(exc, nats.js.errors.APIError):
        return exc.description or f"JetStream error {exc.err_code or exc.code}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).removeprefix("nats: ").strip("'\" ")
    return text or type(exc).__name__


def translate(exc: BaseException, url: str, what: str = "") -> InterlinkError:
    """The interlink error for a nats-py exception (the one place where they are mapped)."""
    if isinstance(exc, InterlinkError):
        return exc
    where = f"{safe_url(url)}: {what}: " if what else f"{safe_url(url)}: "
    if isinstance(exc, nats.errors.NoRespondersError | nats.js.errors.ServiceUnavailableError):
        return NoResponders(f"{where}no responders")
    if isinstance(exc, nats.errors.MaxPayloadError):
        return ValidationError(f"{where}message exceeds the server's max payload")
    if isinstance(exc, nats.errors.BadSubjectError | nats.errors.BadHeaderError):
        return ValidationError(f"{where}{type(exc).__name__}: {exc}")
    if isinstance(exc, nats.errors.OutboundBufferLimitError | nats.errors.StaleConnectionError):
        return ConnectionLost(f"{where}connection lost ({describe(exc)})")
    if isinstance(exc, nats.errors.ConnectionClosedError | nats.errors.ConnectionDrainingError):
        return BrokerError(f"{where}connection closed")
    return BrokerError(f"{where}{describe(exc)}")


@contextlib.contextmanager
def broker_errors(url: str, what: str) -> Iterator[None]:
    """Run a block, turning nats-py and socket errors into interlink errors."""
    try:
        yield
    except InterlinkError:
        raise
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        raise translate(exc, url, what) from None


async def drain(client: Client, sub: NatsSubscription) -> None:
    """Stop a subscription so that what the server already sent it is still handled.

    While connected the server confirms the unsubscribe before this returns, so
    a message sent afterwards by anyone can no longer reach this subscription.
    """
    try:
        if client.is_connected:
            await asyncio.wait_for(sub.drain(), 5.0)  # type: ignore[no-untyped-call]  # untyped in nats-py
            return
    except Exception as exc:  # the connection went away meanwhile: forget it locally
        log.debug("draining %s failed: %s", sub.subject, describe(exc))
    with contextlib.suppress(Exception):
        await sub.unsubscribe()


def consumer_name(service: str, subject: str) -> str:
    """A JetStream consumer name for ``service`` on ``subject`` (no '.', '*' or '>').

    Readable, and unique thanks to a digest of both: "a.b" and "a_b" differ, and
    so do long service names that share their first 64 characters.
    """
    readable = subject.replace(".", "_").replace("*", "STAR").replace(">", "ALL")
    digest = hashlib.blake2s(f"{service} {subject}".encode(), digest_size=4).hexdigest()
    return f"{service[:64]}_{readable[:96]}_{digest}"


def delivery_count(reply: str) -> int:
    """JetStream's delivery count from a message's ack subject (v1 and v2 forms)."""
    tokens = reply.split(".")
    try:
        return int(tokens[4] if len(tokens) == 9 else tokens[6])
    except (IndexError, ValueError):
        return 1


class Settler:
    """Sends the acknowledgements of one connection in batches.

    A settle waits at most ``delay`` seconds, so that a stream of deliveries
    costs one socket write per batch instead of one per message. A settle lost
    with the process only means a redelivery, which at-least-once allows.
    """

    def __init__(self, client: FastClient, url: str, delay: float = 0.001) -> None:
        self._client = client
        self._url = url
        self._delay = delay
        self._batch: list[tuple[str, bytes]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    def add(self, reply: str, payload: bytes) -> None:
        self._batch.append((reply, payload))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay, self._flush_soon)

    def _flush_soon(self) -> None:
        task = asyncio.ensure_future(self.flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def flush(self) -> None:
        """Send what is waiting now (also called before the connection closes)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._batch = self._batch, []
        try:
            for reply, payload in batch:
                await self._client.post(reply, payload)
        except Exception as exc:  # the broker redelivers what was not settled
            log.warning("NATS %s: %d settle(s) not sent: %s", safe_url(self._url), len(batch), describe(exc))


class JetStreamReceipt:
    """Settles one JetStream delivery through the connection's :class:`Settler`."""

    __slots__ = ("_reply", "_settled", "_settler")

    def __init__(self, settler: Settler, reply: str) -> None:
        self._settler = settler
        self._reply = reply
        self._settled = False

    async def ack(self) -> None:
        self._settle(b"+ACK")

    async def nack(self, delay: float) -> None:
        self._settle(b'-NAK {"delay": %d}' % int(delay * 1e9) if delay >= 0.001 else b"-NAK")

    async def reject(self) -> None:
        self._settle(b"+TERM")

    async def working(self) -> None:
        if not self._settled:  # progress after the verdict would be noise
            self._settler.add(self._reply, b"+WPI")

    def _settle(self, payload: bytes) -> None:
        if not self._settled:
            self._settled = True
            self._settler.add(self._reply, payload)


SLOW_CONSUMER = 512 * 1024  # messages a core subscription may hold unhandled (nats-py's default limit)
Release = Callable[[], Awaitable[None]]
Item = tuple[Message, Release | None]


class Pool:
    """Up to ``size`` handlers at once for one binding.

    A message goes straight to an idle worker when there is one, else into a
    backlog of at most ``size``; ``put`` waits beyond that, which pushes back on
    the NATS subscription instead of buffering. Workers start as load needs them
    and then stay, so a busy binding costs no task per message.
    """

    def __init__(self, handler: Handler, size: int) -> None:
        self.handler = handler
        self.size = max(1, size)
        self.limit = SLOW_CONSUMER
        self.backlog: deque[Item] = deque()
        self.idle: deque[asyncio.Future[Item | None]] = deque()
        self.workers: list[asyncio.Task[None]] = []
        self.room: asyncio.Future[None] | None = None
        self.closing = False

    def put_nowait(self, message: Message, release: Release | None = None) -> bool:
        """Hand ``message`` to a worker without waiting: to an idle one, else into the backlog.
        False (the message is dropped) when the backlog already holds ``limit`` messages: a
        slow consumer, as nats-py's own pending limit would have dropped it."""
        idle = self.idle
        while idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result((message, release))
                return True
        if len(self.backlog) >= self.limit:
            return False
        self.backlog.append((message, release))
        if len(self.workers) < self.size:
            self.workers.append(asyncio.ensure_future(self._work()))
        return True

    async def put(self, message: Message, release: Release | None = None) -> None:
        """Hand ``message`` to a worker; ``release`` is awaited once its handler has returned."""
        idle = self.idle
        while idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result((message, release))
                return
        while len(self.backlog) >= self.size:
            if self.room is None:
                self.room = asyncio.get_running_loop().create_future()
            await asyncio.shield(self.room)
        self.backlog.append((message, release))
        if len(self.workers) < self.size:
            self.workers.append(asyncio.ensure_future(self._work()))

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        backlog, idle, handler = self.backlog, self.idle, self.handler
        while True:
            if backlog:
                message, release = backlog.popleft()
                room = self.room
                if room is not None:
                    self.room = None
                    room.set_result(None)
            elif self.closing:
                return
            else:
                waiter: asyncio.Future[Item | None] = loop.create_future()
                idle.append(waiter)
                item = await waiter
                if item is None:
                    return
                message, release = item
            try:
                await handler(message)
            except Exception:  # the bus logs handler failures; this is a transport failure
                log.exception("handling a message on %s failed", message.subject)
            if release is not None:
                try:
                    await release()
                except Exception as exc:  # a worker outlives a failed pull; the consumer recovers it
                    log.debug("pulling more after %s failed: %s", message.subject, exc)

    async def close(self) -> list[Message]:
        """Let running handlers finish; returns the messages nobody started."""
        self.closing = True
        while self.idle:
            waiter = self.idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
        await asyncio.gather(*self.workers, return_exceptions=True)
        left = [message for message, _ in self.backlog]
        self.backlog.clear()
        return left

    def cancel(self) -> None:
        self.closing = True
        for task in self.workers:
            task.cancel()
