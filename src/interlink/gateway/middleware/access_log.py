"""One log line per request on the ``interlink.gateway.access`` logger (INFO).

    127.0.0.1 "GET /rides/r1" 200 3.1ms route=ride_status client=jwt:p1 rid=5f0c...
"""

from __future__ import annotations

import logging

from starlette.types import Scope

from interlink.gateway._inputs import IDENTITY, REQUEST_ID
from interlink.gateway._router import options_of

log = logging.getLogger("interlink.gateway.access")


def log_request(scope: Scope, status: int, seconds: float) -> None:
    state = scope.get("state", {})
    options = options_of(scope)
    identity = state.get(IDENTITY)
    peer = (scope.get("client") or ("-",))[0]
    log.info('%s "%s %s" %d %.1fms route=%s client=%s rid=%s', peer, scope.get("method", "WS"), scope["path"],
             status, seconds * 1000, options.name if options else "-", identity.client if identity else peer,
             state.get(REQUEST_ID, "-"))
