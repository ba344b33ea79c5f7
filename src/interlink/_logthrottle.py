"""A limit on repeated warnings: a flood of bad messages must not become a flood of log lines.

Each message a service refuses (a body that does not decode, a foreign client's
headers, a dead letter) is logged with its reason — useful once, harmful ten
thousand times a second. The filter lets through at most ``burst`` records of
WARNING or ERROR per call site in each ``window`` seconds and counts the rest; the
first record let through after that carries the count (``(1532 more like this in
the last 10s)``). CRITICAL records and records below WARNING always pass.

``INTERLINK_LOG_BURST`` sets ``burst`` (default 20; 0 turns the limit off).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

#: the loggers whose lines are per message (the gateway's access log is per request, on purpose)
LOGGERS = ("interlink", "interlink.nats", "interlink.redis", "interlink.outbox")

Site = tuple[str, str, int]


class Throttle(logging.Filter):
    def __init__(self, burst: int = 20, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()  # sync handlers log from worker threads
        self._sites: dict[Site, list[float]] = {}  # site -> [window start, passed, held back]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.burst <= 0 or not logging.WARNING <= record.levelno < logging.CRITICAL:
            return True
        site = (record.name, record.pathname, record.lineno)
        now = self._clock()
        with self._lock:
            state = self._sites.get(site)
            if state is None or now - state[0] >= self.window:
                held = int(state[2]) if state is not None else 0
                self._sites[site] = [now, 1, 0]
                if len(self._sites) > 10_000:  # bounded: forget the oldest sites
                    for old in list(self._sites)[:1000]:
                        del self._sites[old]
                if held:
                    record.msg = f"{record.msg} ({held} more like this in the last {self.window:.0f}s)"
                return True
            if state[1] < self.burst:
                state[1] += 1
                return True
            state[2] += 1
            return False


def _burst() -> int:
    try:
        return max(0, int(os.environ.get("INTERLINK_LOG_BURST", "20")))
    except ValueError:
        return 20


THROTTLE = Throttle(_burst())
for _name in LOGGERS:
    logging.getLogger(_name).addFilter(THROTTLE)
