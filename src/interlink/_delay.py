"""Delayed messages: ``delay=SECONDS`` or ``at=DATETIME`` on notify, send and publish.

The message is stored by the broker now and delivered at its due time, at least
once (see each transport's ``schedule`` for how). The bus checks the request here,
at the call, so that a bad one fails where it is made.
"""

from __future__ import annotations

import math
import time
from datetime import datetime


def due_time(delay: float | None, at: datetime | None, max_delay: float) -> float | None:
    """The due time (Unix seconds) of a delayed message, or None for one to send now.

    ValueError for: both given, a negative or non-finite delay, a naive ``at`` (no
    time zone), an ``at`` in the past, or a delay beyond the transport's ``max_delay``.
    """
    if at is not None:
        if delay is not None:
            raise ValueError("give delay= or at=, not both")
        if not isinstance(at, datetime):
            raise TypeError(f"at= takes a datetime, not {type(at).__name__}")
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("at= needs a time zone (datetime.now(timezone.utc) + timedelta(...))")
        due = at.timestamp()
        delay = due - time.time()
        if delay < 0:
            raise ValueError(f"at= is {-delay:.3f}s in the past")
    elif delay is None:
        return None
    else:
        if isinstance(delay, bool) or not isinstance(delay, (int, float)):
            raise TypeError(f"delay= takes seconds, not {type(delay).__name__}")
        if not math.isfinite(delay) or delay < 0:
            raise ValueError(f"delay must be zero or more seconds, not {delay!r}")
        due = time.time() + delay
    if delay > max_delay:
        raise ValueError(f"delay of {delay:.0f}s is beyond this broker's limit of {max_delay:.0f}s")
    return due if delay > 0 else None
