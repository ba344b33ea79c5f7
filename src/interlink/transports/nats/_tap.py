"""What the NATS transport shows observers: every interlink message crossing the
server (the tap), and what waits for each durable consumer (the backlog).

The tap is one core subscription to ``>`` on a connection of the observer's own;
the server hands it a copy of each message, so services do no extra work. Its
subjects tell the delivery kind: ``_il.q.`` sends, ``_il.e.`` publishes,
``_il.dead.`` dead letters, a private inbox with an ``il-re`` header a reply, and
a plain subject with a NATS reply subject a request. JetStream's own traffic
(``$JS.`` requests, acknowledgements, stored messages delivered to
consumers, which the tap saw when they were stored) is left out. When the
observer cannot keep up, the server and nats-py drop its copies (a slow consumer),
never slowing the senders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlink.transports.base import Backlog, Message, TapHandler, TapKind
from interlink.transports.nats._frame import unframe
from interlink.transports.nats._support import DEAD, EVENT_PREFIX_LEN, MSG_ID, WORK, drain

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription as NatsSubscription
    from nats.js.api import ConsumerInfo
    from nats.js.manager import JetStreamManager

TAP_PENDING = 20_000  # copies buffered for a slow observer before the oldest are dropped
_INBOX = "_INBOX."
_JS_ACK = "$JS.ACK."


def classify(msg: Msg, headers: dict[str, str] | None = None) -> tuple[TapKind, str] | None:
    """The delivery kind and interlink subject of a message seen on the wire (``headers``: its
    envelope, framed or not; the NATS headers when None), or None for NATS's own."""
    subject = msg.subject
    if headers is None:
        headers = msg.headers
    first = subject[0]
    if msg.reply.startswith(_JS_ACK):  # JetStream delivering a stored message: seen when it was stored
        return None
    if first == "_":
        if subject.startswith(WORK):
            return "send", subject[len(WORK):]
        if subject.startswith("_il.e."):
            return "publish", subject[EVENT_PREFIX_LEN:]
        if subject.startswith(DEAD):
            return "dead", subject[len(DEAD):]
        if subject.startswith(_INBOX) and headers and "il-re" in headers:
            return "reply", subject
        return None
    if first == "$" or not msg.reply:
        return None
    return "request", subject


class Tap:
    """A running tap; ``stop()`` ends it."""

    def __init__(self, client: Client, sub: NatsSubscription) -> None:
        self._client = client
        self._sub = sub

    async def stop(self) -> None:
        await drain(self._client, self._sub)


async def tap(client: Client, handler: TapHandler) -> Tap:
    async def deliver(msg: Msg) -> None:
        headers, body, _ = unframe(msg.data, msg.headers)
        seen = classify(msg, headers)
        if seen is not None:
            headers.pop(MSG_ID, None)
            handler(seen[0], Message(seen[1], body, headers))

    sub = await client.subscribe(">", cb=deliver, pending_msgs_limit=TAP_PENDING)
    await client.flush(timeout=5)
    return Tap(client, sub)


async def backlog(jsm: JetStreamManager, streams: dict[str, str]) -> list[Backlog]:
    """One row per durable consumer of ``streams`` (stream name -> subject prefix)."""
    rows: list[Backlog] = []
    for stream, prefix in streams.items():
        offset = 0
        while True:
            page = await jsm.consumers_info(stream, offset)
            rows.extend(_row(info, prefix) for info in page if info.config.filter_subject)
            if not page:
                break
            offset += len(page)
    return rows


def _row(info: ConsumerInfo, prefix: str) -> Backlog:
    subject = (info.config.filter_subject or "")[len(prefix):]
    name = info.name
    if prefix == WORK:
        return Backlog("", "endpoint", subject, info.num_pending or 0, info.num_ack_pending or 0)
    readable = subject.replace(".", "_").replace("*", "STAR").replace(">", "ALL")[:96]
    tail = f"_{readable}_{name[-8:]}"  # consumer_name(): service, readable subject, digest
    service = name[: -len(tail)] if name.endswith(tail) else ""
    return Backlog(service, "subscription", subject, info.num_pending or 0, info.num_ack_pending or 0)
