"""The last line: an exception no route handled becomes a short 500 JSON; the trace goes to the log."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlink.gateway._http import error_response

log = logging.getLogger("interlink.gateway")


class ServerErrors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] in ("http.response.start", "websocket.accept")
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.exception("gateway: unhandled error on %s %s", scope.get("method", "WS"), scope.get("path"))
            if started:
                return  # too late for an answer: the server closes the connection
            if scope["type"] == "http":
                await error_response(500, "internal", "internal error")(scope, receive, send)
            elif scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1011})
