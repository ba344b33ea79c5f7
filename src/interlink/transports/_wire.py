"""What every transport does alike with what arrives from the wire, and with dead letters that are too big.

Headers reach the bus as text: a value of another type (bytes that are not
UTF-8, numbers, tables) is dropped with one warning per message, as if it
were absent. An attempt count that is not a whole number in range is ignored
the same way. A dead letter carries the original's headers plus the reason,
so it can exceed a broker limit that the original just met: :func:`fit` cuts
it down (long header values first, then whole headers, then the body) and
says what it cut in ``il-dead-cut``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from interlink.transports.base import Message

log = logging.getLogger("interlink")

MAX_ATTEMPT = 1 << 31
KEEP = ("il-id", "il-dead-subject", "il-dead-reason", "il-dead-attempts", "il-dead-service", "il-dead-kind",
        "il-cid", "il-from")
CUT = "il-dead-cut"
VALUE_ROOM = 256  # a long value is cut to this many characters first


def text_headers(raw: Mapping[Any, Any] | None, where: str, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """The text headers of ``raw``; any other name or value is dropped with one warning (names in ``skip``
    are the transport's own and dropped silently)."""
    if not raw:
        return {}
    headers: dict[str, str] = {}
    dropped: list[str] = []
    for name, value in raw.items():
        if name in skip:
            continue
        if isinstance(name, str) and isinstance(value, str):
            headers[name] = value
        else:
            dropped.append(f"{str(name)[:40]!r} ({type(value).__name__})")
    if dropped:
        log.warning("%s: ignored header(s) that are not text: %s", where, ", ".join(dropped[:10]))
    return headers


def parse_attempt(raw: object, where: str) -> int | None:
    """An attempt count from the wire (text or bytes of digits, or an int); None, with a warning, otherwise."""
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    if isinstance(raw, int) and not isinstance(raw, bool):
        value: int | None = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 10:
        value = int(raw)
    else:
        value = None
    if value is None or not 1 <= value <= MAX_ATTEMPT:
        log.warning("%s: ignored an attempt count that is not a whole number from 1 to 2**31: %.40r", where, raw)
        return None
    return value


Cost = Callable[[str, str], int]


def fit(message: Message, header_room: int, total_room: int, cost: Cost) -> Message:
    """``message`` cut so that its headers take at most ``header_room`` bytes and headers + body
    at most ``total_room``; ``cost(name, value)`` is what one header takes on the wire.

    The dead-letter headers in KEEP survive (their values shortened if need be);
    what was cut is listed in the ``il-dead-cut`` header. Returns ``message``
    itself when it fits.
    """
    headers = dict(message.headers)
    size = sum(cost(k, v) for k, v in headers.items())
    if size <= header_room and size + len(message.body) <= total_room:
        return message
    cuts: list[str] = []
    room = min(header_room, total_room) - 400  # for the note itself
    for name in sorted(headers, key=lambda n: -len(headers[n])):
        if size <= room:
            break
        value = headers[name]
        if len(value) > VALUE_ROOM:
            cuts.append(f"{name[:40]} cut from {len(value)} characters")
            size += cost(name, value[:VALUE_ROOM]) - cost(name, value)
            headers[name] = value[:VALUE_ROOM]
    for name in sorted(headers, key=lambda n: -cost(n, headers[n])):
        if size <= room:
            break
        if name not in KEEP:
            cuts.append(f"{name[:40]} dropped")
            size -= cost(name, headers.pop(name))
    body = message.body
    if size + len(body) + 400 > total_room:
        cuts.append(f"body of {len(body)} bytes dropped")
        body = b""
    note = "; ".join(cuts[:5]) + (f"; and {len(cuts) - 5} more" if len(cuts) > 5 else "")
    if message.headers.get(CUT):
        note = f"{message.headers[CUT][:100]}; {note}"
    headers[CUT] = note[:300]
    log.warning("dead letter %s cut to fit the broker's limits: %s", headers.get("il-id", "?"), note[:300])
    return Message(message.subject, body, headers, attempt=message.attempt)
