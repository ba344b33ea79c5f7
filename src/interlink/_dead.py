"""The dead-letter API of a bus: ``bus.dead_letters``.

A message is dead-lettered when its handler failed on the last attempt, or at
once when its body cannot be decoded or validated. The transport keeps it (with
headers saying why) until it is replayed or purged::

    for letter in await bus.dead_letters.list(service="billing"):
        print(letter.id, letter.subject, letter.code, letter.reason)
    await bus.dead_letters.replay(letter.id)        # back to its subject, a new message id
    await bus.dead_letters.purge(service="billing")  # remove them

Every method works on every transport; filters are applied to the letters the
transport returns (at most ``limit``, oldest first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interlink import _headers as h
from interlink._errors import DeadLetterNotFound
from interlink._subjects import matches
from interlink.transports.base import Message

if TYPE_CHECKING:
    from interlink._bus import Bus

#: Header set on a replayed message: the id of the dead letter it came from.
REPLAY_OF = "il-replay-of"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-lettered message, as the broker keeps it.

    ``subject`` is where it was going; ``service`` the service that gave up on it;
    ``kind`` ``"endpoint"`` (replayed as a notification/send) or ``"subscription"``
    (replayed as a publish); ``attempts`` the deliveries made; ``reason`` why
    (``"code: message"`` of the error, or the exception); ``code`` the error code
    (``"internal"`` for an unexpected exception, ``"invalid"`` for a bad body);
    ``error_service`` the service that raised the error first (another one when it
    came back from a nested request) and ``error_path`` the services it crossed
    (see :attr:`RemoteError.path`); ``at`` Unix time of dead-lettering (0.0 if
    unknown); ``body`` the raw bytes and ``headers`` every header.
    """

    id: str
    subject: str
    service: str
    kind: str
    attempts: int
    reason: str
    code: str
    error_service: str
    error_path: tuple[str, ...]
    at: float
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)

    @classmethod
    def from_message(cls, message: Message) -> DeadLetter:
        headers = message.headers
        return cls(
            id=headers.get(h.MESSAGE_ID, ""),
            subject=headers.get(h.DEAD_SUBJECT, message.subject),
            service=headers.get(h.DEAD_SERVICE, ""),
            kind=headers.get(h.DEAD_KIND, "endpoint"),
            attempts=_number(headers.get(h.DEAD_ATTEMPTS), int, 0),
            reason=headers.get(h.DEAD_REASON, ""),
            code=headers.get(h.DEAD_CODE, ""),
            error_service=headers.get(h.DEAD_ERROR_SERVICE, ""),
            error_path=tuple(p for p in headers.get(h.DEAD_ERROR_PATH, "").split(",") if p),
            at=_number(headers.get(h.DEAD_AT), float, 0.0),
            headers=dict(headers),
            body=message.body,
        )

    def json(self) -> Any:
        """The body decoded as JSON, or as text when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return self.body.decode("utf-8", "replace")

    def to_dict(self, *, body: bool = True) -> dict[str, Any]:
        """A JSON-ready view (what ``interlink dlq show --json`` prints); ``body=False`` leaves out body and headers."""
        row: dict[str, Any] = {
            "id": self.id, "subject": self.subject, "service": self.service, "kind": self.kind,
            "attempts": self.attempts, "reason": self.reason, "code": self.code,
            "error_service": self.error_service, "error_path": list(self.error_path), "at": self.at,
        }
        if body:
            row["headers"] = self.headers
            row["body"] = self.json()
        return row


def _number(raw: str | None, kind: type[int] | type[float], default: float) -> Any:
    try:
        return kind(raw) if raw else default
    except ValueError:
        return default


class DeadLetters:
    """List, inspect, replay and purge the dead letters of the bus's broker.

    Filters (all optional, combined with AND): ``service`` (exact name of the
    service that gave up), ``subject`` (a pattern, ``*`` and ``>`` allowed),
    ``code`` (the error code). ``limit`` bounds how many letters are read from
    the broker (oldest first).
    """

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def list(self, *, service: str | None = None, subject: str | None = None, code: str | None = None,
                   limit: int = 1000) -> list[DeadLetter]:
        """The dead letters that match, oldest first. Nothing is removed."""
        await self._bus.start()
        messages = await self._bus.transport.dead_letters(limit)
        letters = [DeadLetter.from_message(m) for m in messages]
        return [d for d in letters if (service is None or d.service == service)
                and (subject is None or matches(subject, d.subject)) and (code is None or d.code == code)]

    async def get(self, letter_id: str) -> DeadLetter:
        """The dead letter with this id; raises :class:`DeadLetterNotFound` when there is none."""
        for letter in await self.list(limit=100_000):
            if letter.id == letter_id:
                return letter
        raise DeadLetterNotFound(f"no dead letter with id {letter_id!r}")

    async def replay(self, letter_id: str) -> str:
        """Send one dead letter back to its subject and remove it; returns the new message id.

        The copy keeps the original headers (correlation id, trace, reply channel)
        under a new message id, so broker-side dedup and idempotent handlers do not
        drop it; ``il-replay-of`` names the dead letter. Raises :class:`DeadLetterNotFound`.
        """
        letter = await self.get(letter_id)
        new_id = await self._resend(letter)
        await self._bus.transport.remove_dead_letters({letter.id})
        return new_id

    async def replay_all(self, *, service: str | None = None, subject: str | None = None,
                         code: str | None = None, limit: int = 1000) -> int:
        """Replay every matching dead letter (oldest first) and remove them; returns how many."""
        letters = await self.list(service=service, subject=subject, code=code, limit=limit)
        for letter in letters:
            await self._resend(letter)
            await self._bus.transport.remove_dead_letters({letter.id})
        return len(letters)

    async def purge(self, *, ids: set[str] | None = None, service: str | None = None,
                    subject: str | None = None, code: str | None = None) -> int:
        """Remove dead letters without replaying them; returns how many were removed.

        With no argument every dead letter goes; ``ids`` and the filters narrow it.
        """
        await self._bus.start()
        if ids is None and service is None and subject is None and code is None:
            return await self._bus.transport.remove_dead_letters(None)
        letters = await self.list(service=service, subject=subject, code=code, limit=100_000)
        chosen = {d.id for d in letters if ids is None or d.id in ids}
        return await self._bus.transport.remove_dead_letters(chosen) if chosen else 0

    async def _resend(self, letter: DeadLetter) -> str:
        headers = {k: v for k, v in letter.headers.items() if not k.startswith("il-dead-")}
        headers[REPLAY_OF] = letter.id
        headers[h.MESSAGE_ID] = h.new_id()
        again = Message(letter.subject, letter.body, headers)
        if letter.kind == "subscription":
            await self._bus.transport.publish(again, durable=True)
        else:
            await self._bus.transport.send(again)
        return headers[h.MESSAGE_ID]
