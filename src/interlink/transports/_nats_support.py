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
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import nats.errors
import nats.js.errors

from interlink._errors import BrokerError, ConnectionLost, InterlinkError, NoResponders, ValidationError
from interlink.transports.base import Handler, Message

if TYPE_CHECKING:
    from nats.aio.client import Client

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


def consumer_name(service: str, subject: str) -> str:
    """A JetStream consumer name for ``service`` on ``subject`` (no '.', '*' or '>').

    Readable, and unique per subject thanks to a digest: "a.b" and "a_b" differ.
    """
    readable = subject.replace(".", "_").replace("*", "STAR").replace(">", "ALL")
    digest = hashlib.blake2s(subject.encode(), digest_size=4).hexdigest()
    return f"{service[:64]}_{readable[:96]}_{digest}"


def delivery_count(reply: str) -> int:
    """JetStream's delivery count from a message's ack subject (v1 and v2 forms)."""
    tokens = reply.split(".")
    try:
        return int(tokens[4] if len(tokens) == 9 else tokens[6])
    except (IndexError, ValueError):
        return 1


class JetStreamReceipt:
    """Settles one JetStream delivery by publishing to its ack subject."""

    __slots__ = ("_client", "_reply", "_settled", "_url")

    def __init__(self, client: Client, reply: str, url: str) -> None:
        self._client = client
        self._reply = reply
        self._url = url
        self._settled = False

    async def ack(self) -> None:
        await self._settle(b"+ACK")

    async def nack(self, delay: float) -> None:
        payload = b'-NAK {"delay": %d}' % int(delay * 1e9) if delay >= 0.001 else b"-NAK"
        await self._settle(payload)

    async def reject(self) -> None:
        await self._settle(b"+TERM")

    async def working(self) -> None:
        if not self._settled:  # progress after the verdict would be noise
            await self._send(b"+WPI")

    async def _settle(self, payload: bytes) -> None:
        if not self._settled:
            self._settled = True
            await self._send(payload)

    async def _send(self, payload: bytes) -> None:
        try:
            await self._client.publish(self._reply, payload)
        except Exception as exc:
            raise translate(exc, self._url, "settle a delivery") from None


Release = Callable[[], Awaitable[None]]


class Pool:
    """Up to ``size`` handlers at once for one binding, fed by a bounded queue.

    Workers are started as load needs them and then stay, so a busy binding
    costs no task per message. ``put`` waits when ``size`` messages are already
    queued, which pushes back on the NATS subscription instead of buffering.
    """

    def __init__(self, handler: Handler, size: int) -> None:
        self.handler = handler
        self.size = max(1, size)
        self.queue: asyncio.Queue[tuple[Message, Release | None]] = asyncio.Queue(self.size)
        self.workers: list[asyncio.Task[None]] = []
        self.waiting: set[asyncio.Task[None]] = set()
        self.closing = False

    async def put(self, message: Message, release: Release | None = None) -> None:
        """Queue ``message``; ``release`` is awaited once its handler has returned."""
        if len(self.waiting) <= self.queue.qsize() and len(self.workers) < self.size:
            self.workers.append(asyncio.ensure_future(self._work()))
        await self.queue.put((message, release))

    async def _work(self) -> None:
        task = asyncio.current_task()
        if task is None:  # unreachable: workers are created as tasks
            return
        queue = self.queue
        handler = self.handler
        while not (self.closing and queue.empty()):
            self.waiting.add(task)
            try:
                message, release = await queue.get()
            finally:
                self.waiting.discard(task)
            try:
                await handler(message)
            except Exception:  # the bus logs handler failures; this is a transport failure
                log.exception("handling a message on %s failed", message.subject)
            if release is not None:
                try:
                    await release()
                except InterlinkError as exc:
                    log.debug("pulling more after %s failed: %s", message.subject, exc)

    async def close(self) -> list[Message]:
        """Let running handlers finish; returns the messages nobody started."""
        self.closing = True
        for task in list(self.waiting):
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        left: list[Message] = []
        while not self.queue.empty():
            left.append(self.queue.get_nowait()[0])
        return left

    def cancel(self) -> None:
        for task in self.workers:
            task.cancel()
