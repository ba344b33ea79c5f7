"""Header names of the interlink envelope and helpers to build them.

Every message carries a message id, a correlation id, the sending service,
the reply channel where there is one, a deadline where there is one, and a W3C
``traceparent``. Deadlines travel as absolute Unix time in seconds, so nested
requests get at most the time left.
"""

from __future__ import annotations

import math
import os
import struct
import time
from collections import deque

_urandom = os.urandom


class _Randomness:
    """128-bit random values as 32 hex digits, from ``os.urandom`` read 4 KiB at a time, each handed out once.

    Every request needs two or three of them (ids, trace and span ids); one system call per
    value was a visible share of a message's time. Taken from a deque: ``popleft`` is atomic,
    so threads (sync handlers) never share a value and need no lock; a refill that races
    another only adds values. A forked child starts with an empty pool, so it never repeats
    its parent's values.
    """

    SIZE = 4096

    def __init__(self) -> None:
        self._pool: deque[str] = deque()
        self.take = self._pool.popleft
        os.register_at_fork(after_in_child=self._pool.clear)

    def next(self) -> str:
        """32 random hex digits."""
        try:
            return self.take()
        except IndexError:
            self._pool.extend(map(bytes.hex, _split(_urandom(self.SIZE))))
            return self.take()


_split = struct.Struct("16s" * (_Randomness.SIZE // 16)).unpack  # 16-byte pieces, split in C
_random = _Randomness()
_take = _random.take

VERSION = "il-v"  # the protocol version of the envelope (docs/protocol.md)
PROTOCOL = 1  # the version this interlink speaks; bumped only for changes old receivers would misread
PROTOCOL_TEXT = str(PROTOCOL)
MESSAGE_ID = "il-id"
CORRELATION_ID = "il-cid"
SENDER = "il-from"
INSTANCE = "il-instance"
REPLY_TO = "il-reply-to"  # an endpoint subject: request/async response
INBOX = "il-inbox"  # a transport inbox address: publish/async responses
REPLY_OF = "il-re"  # the message id a reply answers
DEADLINE = "il-deadline"
DUE = "il-due"  # a delayed message: when it is due, Unix time in seconds
ERROR = "il-error"
CONTENT_TYPE = "content-type"
TRACEPARENT = "traceparent"
# dead letters
DEAD_SUBJECT = "il-dead-subject"
DEAD_REASON = "il-dead-reason"
DEAD_ATTEMPTS = "il-dead-attempts"
DEAD_SERVICE = "il-dead-service"
DEAD_KIND = "il-dead-kind"  # "endpoint" (replayed with send) or "subscription" (replayed with publish)
DEAD_CODE = "il-dead-code"  # the error code: a ServiceError's, "internal" or "invalid"
DEAD_ERROR_SERVICE = "il-dead-error-service"  # the service that raised the error first
DEAD_ERROR_PATH = "il-dead-error-path"  # the services the error crossed, comma-separated
DEAD_AT = "il-dead-at"  # Unix time of dead-lettering
DEAD_CUT = "il-dead-cut"  # what a dead letter lost to fit the broker's limits

# Deadlines are absolute Unix times: anything outside these bounds is not one.
_EARLIEST, _LATEST = 0.0, 1e11


def new_id() -> str:
    """128 random bits as 32 hex digits (as unique as a uuid4, without building a UUID object)."""
    try:
        return _take()  # the pool's next value, without a call of ours in between
    except IndexError:
        return _random.next()


def new_traceparent(parent: str | None = None) -> str:
    """Continue the trace of ``parent`` (a new span id) or start a new trace."""
    if parent and len(parent) == 55 and parent[2] == "-":
        return f"00-{parent[3:35]}-{new_id()[:16]}-{parent[53:55]}"
    return f"00-{new_id()}-{new_id()[:16]}-01"


def deadline_in(seconds: float) -> str:
    return f"{time.time() + seconds:.6f}"


def parse_deadline(raw: object) -> float | None:
    """The Unix time in an ``il-deadline`` value, or None if it is not a finite, positive time."""
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    if not math.isfinite(value) or not _EARLIEST < value < _LATEST:
        return None
    return value


def seconds_left(headers: dict[str, str]) -> float | None:
    """Seconds until the ``il-deadline`` of ``headers`` (negative once passed); None without a valid one."""
    deadline = parse_deadline(headers.get(DEADLINE))
    return None if deadline is None else deadline - time.time()
