"""One log line per request on the ``interlink.gateway.access`` logger (INFO).

    127.0.0.1 "GET /rides/r1" 200 3.1ms route=ride_status client=jwt:p1 rid=5f0c...
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlink.gateway._inputs import IDENTITY, REQUEST_ID
from interlink.gateway._router import options_of

log = logging.getLogger("interlink.gateway.access")


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 101 if scope["type"] == "websocket" else 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            state = scope.get("state", {})
            options = options_of(scope)
            identity = state.get(IDENTITY)
            client = identity.client if identity else (scope["client"] or ("-",))[0]
            log.info('%s "%s %s" %d %.1fms route=%s client=%s rid=%s', (scope.get("client") or ("-",))[0],
                     scope.get("method", "WS"), scope["path"], status, (time.perf_counter() - start) * 1000,
                     options.name if options else "-", client, state.get(REQUEST_ID, "-"))
