"""``X-Request-ID``: the client's (if well formed) or a new one; it becomes the messages' correlation id.

The W3C ``traceparent`` of the request is continued (or a trace is started) the same way.
Both go in ``scope["state"]``; the response carries ``X-Request-ID`` (see :mod:`.edge`).
"""

from __future__ import annotations

import re

from starlette.types import Scope

from interlink import _headers as h
from interlink.gateway._inputs import REQUEST_ID, TRACEPARENT

_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")
_TRACE = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}\Z")


def request_ids(scope: Scope) -> str:
    """Put the request id and the traceparent in ``scope["state"]``; returns the request id."""
    given = trace = ""
    for name, value in scope["headers"]:  # one pass over the raw headers, no Headers object
        if name == b"x-request-id":
            given = value.decode("latin-1")
        elif name == b"traceparent":
            trace = value.decode("latin-1")
    request_id = given if given and _ID.match(given) else h.new_id()
    state = scope.setdefault("state", {})
    state[REQUEST_ID] = request_id
    state[TRACEPARENT] = h.new_traceparent(trace if trace and _TRACE.match(trace) else None)
    return request_id
