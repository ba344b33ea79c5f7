"""Checks on an incoming envelope before its body is decoded (the "Robustness" rules of docs/protocol.md).

A foreign or broken sender may put anything in the fields interlink reads.
A field that cannot be read (``il-v`` that is not a positive integer,
``il-deadline`` that is not a finite Unix time, ``il-reply-to`` that is not a
subject) is dropped with one warning
and the message handled as if the field were absent. A version newer than
this interlink speaks is refused: its meaning is unknown, so it is answered
with an ``invalid`` error or dead-lettered, never guessed at.
"""

from __future__ import annotations

import logging

from interlink import _headers as h
from interlink._errors import SubjectError
from interlink._subjects import check_subject

log = logging.getLogger("interlink")

MAX_VERSION_TEXT = 9  # digits: beyond this a "version" is noise


def refusal(headers: dict[str, str], service: str, subject: str) -> str | None:
    """Drop unreadable fields from ``headers`` (one warning); the reason to refuse the message, or None."""
    dropped: list[str] = []
    version = headers.get(h.VERSION)
    if version is not None and version != h.PROTOCOL_TEXT:  # this interlink's own version needs no reading
        number = int(version) if version.isascii() and version.isdigit() and len(version) <= MAX_VERSION_TEXT \
            else 0
        if number < 1:
            dropped.append(f"{h.VERSION}={version[:40]!r}")
            del headers[h.VERSION]
        elif number > h.PROTOCOL:
            return f"protocol version {number} ({h.VERSION}) is newer than this service speaks ({h.PROTOCOL})"
    reply_to = headers.get(h.REPLY_TO)
    if reply_to is not None and not _is_subject(reply_to):
        dropped.append(f"{h.REPLY_TO}={reply_to[:40]!r}")
        del headers[h.REPLY_TO]
    deadline = headers.get(h.DEADLINE)
    if deadline is not None and h.parse_deadline(deadline) is None:
        dropped.append(f"{h.DEADLINE}={deadline[:40]!r}")
        del headers[h.DEADLINE]
    if dropped:
        log.warning("%s: ignored unreadable header(s) on %s: %s", service, subject, ", ".join(dropped))
    return None


def _is_subject(value: str) -> bool:
    try:
        check_subject(value)
    except SubjectError:
        return False
    return True
