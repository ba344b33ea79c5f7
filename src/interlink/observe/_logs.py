"""Structured logs: one JSON object per line, with the ids of the handling that wrote it.

    {"time": "2026-12-01T12:00:00.123Z", "level": "ERROR", "logger": "interlink", "message": "...",
     "service": "trip", "instance": "trip-1a2b3c4d", "subject": "trip.request", "message_id": "...",
     "correlation_id": "...", "trace_id": "..."}

The handling fields are present on every line written while a message is
being handled (by interlink or by the handler, in its task or its worker
thread) and absent otherwise; ``trace_id`` is the span's when tracing is on,
else the one of the message's ``traceparent``. An exception adds ``exception``
(the formatted traceback).
"""

from __future__ import annotations

import datetime
import json
import logging

from interlink.observe._handling import current


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        at = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        line: dict[str, object] = {
            "time": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        handling = current()
        if handling is not None:
            watch = handling.watch
            line.update(service=watch.service, instance=watch.instance, subject=handling.message.subject,
                        message_id=handling.message_id, correlation_id=handling.correlation_id,
                        trace_id=handling.trace_id())
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(fmt: str, level: int) -> None:
    """Root logging as ``text`` (the default line format) or ``json``, at ``level``."""
    if fmt == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=level, handlers=[handler], force=True)
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
