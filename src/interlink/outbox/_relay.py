"""The relay: committed outbox rows to the broker, safely from any number of processes.

One round is one transaction: lock up to ``batch`` unrelayed rows in id order with
``FOR UPDATE SKIP LOCKED`` (rows another relay holds are skipped, so two relays never
send the same row in the normal case), hand them to the transport, mark them relayed,
commit. A relay that dies mid-round leaves its rows unrelayed and unlocked: the next
round sends them again, under the same message id (the broker's duplicate window
and the consumers' inbox drop the repeat): at least once, never lost.

Order per key: a row with a key is relayed only when every earlier unrelayed row of
that key is in the same round (else another relay holds one: the key waits for the
next round); within a round the rows of one key are sent one after the other,
different keys and rows without a key concurrently.

A row that cannot be relayed as it stands (its headers or body no longer decode,
a bad subject) is dead-lettered with the reason, marked with ``failure``, and the
relay goes on. Relays sleep until a ``NOTIFY`` (sent by every commit that wrote a
message) or ``POLL`` seconds, and delete relayed and inbox rows past ``retention``
once a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from interlink import _headers as h
from interlink._errors import InterlinkError, ValidationError
from interlink._subjects import check_subject
from interlink.transports.base import Message

if TYPE_CHECKING:
    from interlink.outbox._outbox import Outbox

log = logging.getLogger("interlink.outbox")

POLL = 1.0
CLEANUP_EVERY = 60.0


class Relay:
    """Sends committed outbox rows; one background task per relay (see the module docstring)::

        relay = await outbox.start_relay(batch=100)
        print(relay.relayed, relay.failed)     # rows sent, rows dead-lettered
    """

    def __init__(self, outbox: Outbox, *, batch: int = 100, retention: float = 7 * 86_400.0) -> None:
        self.outbox = outbox
        self.batch = batch
        self.retention = retention
        self.relayed = 0
        self.failed = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: Any = None
        self._cleaned = 0.0

    async def start(self) -> None:
        self._listener = await self.outbox.pool.acquire()
        await self._listener.add_listener(self.outbox.channel, self._notified)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.remove_listener(self.outbox.channel, self._notified)
            with contextlib.suppress(Exception):
                await self.outbox.pool.release(listener)

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                sent = await self.round()
                if time.monotonic() - self._cleaned > CLEANUP_EVERY:
                    self._cleaned = time.monotonic()
                    await self.outbox.cleanup(self.retention)
            except Exception as exc:  # the database or the broker is away: again in a moment
                log.warning("outbox relay: %s: %s", type(exc).__name__, exc)
                sent = 0
                await asyncio.sleep(1.0)
            if sent < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL)

    async def round(self) -> int:
        """Relay one batch; returns how many rows it settled (relayed or dead-lettered)."""
        outbox = self.outbox
        async with outbox.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT id, message_id, kind, subject, headers::text AS headers, body, order_key, due "
                f"FROM {outbox.table} WHERE relayed IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch)
            if not rows:
                return 0
            rows = await self._in_turn(conn, rows)
            groups: dict[Any, list[Any]] = defaultdict(list)
            for row in rows:
                groups[row["order_key"] if row["order_key"] is not None else ("", row["id"])].append(row)
            results = await asyncio.gather(*(self._send_group(group) for group in groups.values()))
            done = [row_id for result in results for row_id, _ in result]
            failures = [(row_id, why) for result in results for row_id, why in result if why is not None]
            await conn.execute(f"UPDATE {outbox.table} SET relayed = now() WHERE id = ANY($1::bigint[])", done)
            for row_id, why in failures:
                await conn.execute(f"UPDATE {outbox.table} SET failure = $2 WHERE id = $1", row_id, why)
        self.relayed += len(done) - len(failures)
        self.failed += len(failures)
        return len(done)

    async def _in_turn(self, conn: Any, rows: list[Any]) -> list[Any]:
        """Drop the rows of keys whose earlier rows another relay holds."""
        first: dict[str, int] = {}
        for row in rows:
            if row["order_key"] is not None:
                first.setdefault(row["order_key"], row["id"])
        if not first:
            return rows
        earliest = await conn.fetch(
            f"SELECT order_key, min(id) AS id FROM {self.outbox.table} WHERE relayed IS NULL "
            "AND order_key = ANY($1::text[]) GROUP BY order_key", list(first))
        waiting = {r["order_key"] for r in earliest if r["id"] < first[r["order_key"]]}
        return [row for row in rows if row["order_key"] not in waiting]

    async def _send_group(self, rows: list[Any]) -> list[tuple[int, str | None]]:
        """One after the other; stops at a row the broker refused (it and the rest wait for the next round)."""
        settled: list[tuple[int, str | None]] = []
        for row in rows:
            try:
                message, publish, due = self._message(row)
            except (ValidationError, InterlinkError, ValueError, TypeError) as exc:
                why = f"outbox row {row['id']} cannot be relayed: {exc}"
                await self._dead_letter(row, why)
                settled.append((row["id"], why))
                continue
            try:
                await self._deliver(message, publish, due)
            except InterlinkError as exc:
                log.warning("outbox relay: %s to %s: %s (again next round)", row["message_id"], row["subject"], exc)
                break
            settled.append((row["id"], None))
        return settled

    def _message(self, row: Any) -> tuple[Message, bool, float | None]:
        headers = json.loads(row["headers"])
        if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in headers.items()):
            raise ValidationError("its headers are not a map of strings")
        subject = check_subject(row["subject"])
        if row["kind"] not in ("send", "publish"):
            raise ValidationError(f"unknown kind {row['kind']!r}")
        body = bytes(row["body"])
        self.outbox.bus.codec.decode(body, Any, headers.get(h.CONTENT_TYPE))  # raises ValidationError
        headers[h.MESSAGE_ID] = row["message_id"]
        return Message(subject, body, headers), row["kind"] == "publish", row["due"]

    async def _deliver(self, message: Message, publish: bool, due: float | None) -> None:
        transport = self.outbox.bus.transport
        if due is not None and due > time.time() + 0.01:
            message.headers[h.DUE] = f"{due:.3f}"
            await transport.schedule(message, due, publish=publish)
        elif publish:
            await transport.publish(message, durable=True)
        else:
            await transport.send(message)

    async def _dead_letter(self, row: Any, why: str) -> None:
        log.error("%s", why)
        headers = {h.MESSAGE_ID: str(row["message_id"]), h.DEAD_SUBJECT: str(row["subject"])[:255],
                   h.DEAD_REASON: why[:1000], h.DEAD_ATTEMPTS: "0", h.DEAD_SERVICE: "outbox",
                   h.DEAD_KIND: "subscription" if row["kind"] == "publish" else "endpoint"}
        subject = str(row["subject"])
        try:
            check_subject(subject)
        except InterlinkError:
            subject = "_outbox.invalid"
        await self.outbox.bus.transport.dead_letter(Message(subject, bytes(row["body"] or b""), headers))
