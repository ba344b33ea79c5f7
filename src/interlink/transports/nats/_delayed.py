"""Delayed messages on NATS: the ``interlink_delayed`` stream and its mover.

A delayed send to ``S`` becomes a message on ``_il.dl.d.q.S`` (a durable
publish: ``_il.dl.d.e.S``) in the work-queue stream ``interlink_delayed``
(8 days; storage and replicas as the other streams; on older servers ``max_bytes``,
new messages refused when full). How it waits
depends on the server:

* **nats-server 2.12 and later** (message schedules, ADR-51): the stream allows
  message schedules; the message is stored on ``_il.dl.s.<message id>`` with
  ``Nats-Schedule: @at <due time>`` and ``Nats-Schedule-Target`` = its
  ``_il.dl.d...`` subject. The server puts it there at the due time (and removes
  the schedule), so nothing is read before then.
* **older servers**: the message is stored on its ``_il.dl.d...`` subject at once;
  the mover reads it and answers ``-NAK`` with the time left as the redelivery
  delay, so the server holds it (in the consumer's pending set, which is why the
  mover's consumer has no ``max_ack_pending`` limit) and delivers it again when due.

The mover is one durable pull consumer, ``interlink_delayed_mover``, shared by
every interlink process that consumes or schedules on the server. It carries a due
message out with an ordinary ``send`` or durable ``publish`` (same ``il-id``, so the
streams' duplicate window drops a repeat) and then acknowledges it: at least once.
A mover killed in between leaves the message unacknowledged; it is delivered again
after ``MOVER_ACK_WAIT``. Messages due while the server was down go out when it is back.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, DiscardPolicy, RetentionPolicy, StreamConfig

from interlink._errors import ValidationError
from interlink.transports.base import Message
from interlink.transports.nats._jetstream import PullConsumer
from interlink.transports.nats._options import DAY, Options
from interlink.transports.nats._streams import DEDUP_WINDOW
from interlink.transports.nats._support import Pool, log

if TYPE_CHECKING:
    from interlink.transports.nats._transport import NatsTransport

DELAYED_STREAM = "interlink_delayed"
SCHEDULE = "_il.dl.s."  # schedule definitions (servers with message schedules)
DUE = "_il.dl.d."  # due messages: DUE + "q." + subject (a send) or DUE + "e." + subject (a publish)
MOVER = "interlink_delayed_mover"
MOVER_ACK_WAIT = 10.0
MOVER_INFLIGHT = 512  # older servers: the first look at a burst of delayed messages goes this wide
SCHEDULE_AHEAD = 0.5  # due sooner than this: stored as due at once, the mover waits out the rest
_SERVER_HEADERS = ("Nats-Scheduler", "Nats-Schedule-Next", "Nats-Schedule", "Nats-Schedule-Target")


def has_schedules(version: str) -> bool:
    """Whether a server of ``version`` ("2.12.1") supports message schedules (2.12+)."""
    try:
        major, minor = (int(part) for part in version.split("-")[0].split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (2, 12)


def delayed_stream(options: Options, replicas: int, schedules: bool) -> StreamConfig:
    """The stream's settings: storage and replicas as the other streams (``storage=``, ``replicas=``)."""
    # the server refuses schedules with discard=new; with no size limit, discard=old never drops one
    return StreamConfig(name=DELAYED_STREAM, subjects=["_il.dl.>"], retention=RetentionPolicy.WORK_QUEUE,
                        storage=options.storage, num_replicas=replicas, max_age=8 * DAY,
                        max_bytes=-1 if schedules else options.max_bytes,
                        discard=DiscardPolicy.OLD if schedules else DiscardPolicy.NEW,
                        duplicate_window=DEDUP_WINDOW, allow_msg_schedules=True if schedules else None)


def _rfc3339(due: float) -> str:
    return datetime.fromtimestamp(due, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Delayed:
    """Scheduling and the mover of one NATS transport."""

    def __init__(self, transport: NatsTransport, schedules: bool) -> None:
        self._transport = transport
        self.schedules = schedules
        self._mover: PullConsumer | None = None

    async def check(self) -> None:
        """Use schedules only if the stream allows them (one created before an upgrade to 2.12 does not,
        and interlink never changes an existing stream): else the older servers' way, with a warning."""
        if not self.schedules:
            return
        found = await self._transport._jetstream._stream_config(DELAYED_STREAM)
        if found is not None and not found.allow_msg_schedules:
            self.schedules = False
            log.warning("stream %s does not allow message schedules; delayed messages wait in the mover's "
                        "consumer instead (nats stream edit %s --allow-schedules to use them)", DELAYED_STREAM,
                        DELAYED_STREAM)

    async def schedule(self, message: Message, due: float, publish: bool) -> None:
        target = f"{DUE}{'e' if publish else 'q'}.{message.subject}"
        msg_id = message.headers.get("il-id", "")
        if not msg_id:
            raise ValidationError("a delayed message needs an il-id header")
        await self.start_mover()
        if self.schedules and due - time.time() >= SCHEDULE_AHEAD:
            headers = {**message.headers, "Nats-Schedule": f"@at {_rfc3339(due)}", "Nats-Schedule-Target": target}
            await self._transport._store(SCHEDULE + msg_id, Message(target, message.body, headers), msg_id)
        else:
            await self._transport._store(target, message, msg_id)

    async def start_mover(self) -> None:
        if self._mover is not None:
            return
        config = ConsumerConfig(
            name=MOVER, durable_name=MOVER, filter_subject=f"{DUE}>", deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT, ack_wait=MOVER_ACK_WAIT, max_deliver=-1, max_ack_pending=-1,
            inactive_threshold=7 * DAY,
        )
        transport = self._transport
        self._mover = PullConsumer(transport._jetstream, DELAYED_STREAM, config, Pool(self._move, MOVER_INFLIGHT),
                                   strip=len(DUE), settle=True)
        try:
            await self._mover.start()
        except BaseException:
            self._mover = None
            raise

    def resume(self) -> None:
        if self._mover is not None:
            self._mover.resume()

    async def stop(self) -> None:
        mover, self._mover = self._mover, None
        if mover is not None:
            await mover.stop()

    async def _move(self, message: Message) -> None:
        """One due (or, on an older server, not yet due) message: carry it out, or wait out the rest."""
        receipt = message.receipt
        if receipt is None:
            return
        headers = message.headers
        try:
            left = float(headers.get("il-due", "0")) - time.time()
        except ValueError:
            left = 0.0
        if left > 0.002:
            await receipt.nack(left)
            return
        kind, _, subject = message.subject.partition(".")
        for name in _SERVER_HEADERS:
            headers.pop(name, None)
        out = Message(subject, message.body, headers)
        try:
            if kind == "e":
                await self._transport.publish(out, durable=True)
            else:
                await self._transport.send(out)
        except Exception as exc:
            log.warning("delayed message %s to %s not carried out yet: %s", headers.get("il-id"), subject, exc)
            await receipt.nack(1.0)
            return
        await receipt.ack()
