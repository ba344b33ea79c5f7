"""The outermost layer: request ids, metrics, the access log and the last-resort 500, in one pass.

These four apply to every request, so they share one wrapper of ``send`` and one
coroutine frame rather than four of each (a few microseconds per request).

- ``X-Request-ID`` and ``traceparent`` are taken or made (:mod:`.request_id`); the
  response carries ``X-Request-ID``.
- Each HTTP answer is counted (:class:`.metrics.GatewayMetrics`) and, when the
  ``interlink.gateway.access`` logger is at INFO, logged (:mod:`.access_log`).
- An exception no route handled becomes a short 500 JSON (a WebSocket is closed
  with 1011); the trace goes to the ``interlink.gateway`` log. After the response
  has started it is too late for an answer: the server closes the connection.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlink.gateway._http import error_response
from interlink.gateway._router import options_of
from interlink.gateway.middleware.access_log import log as access_log
from interlink.gateway.middleware.access_log import log_request
from interlink.gateway.middleware.metrics import GatewayMetrics
from interlink.gateway.middleware.request_id import request_ids

log = logging.getLogger("interlink.gateway")
_STARTS = ("http.response.start", "websocket.http.response.start")


class Edge:
    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        http = kind == "http"
        tag = (b"x-request-id", request_ids(scope).encode())
        status = 500 if http else 101
        started = False

        async def sending(message: Message) -> None:
            nonlocal status, started
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                started = True
                message["headers"] = [*message.get("headers", ()), tag]
            elif kind == "websocket.accept":
                started = True
            elif kind == "websocket.http.response.start":
                status = message["status"]
            await send(message)

        metrics = self.metrics
        start = time.perf_counter()
        if http:
            metrics.in_flight += 1
        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.exception("gateway: unhandled error on %s %s", scope.get("method", "WS"), scope.get("path"))
            if not started:
                if http:
                    await error_response(500, "internal", "internal error")(scope, receive, sending)
                else:
                    await send({"type": "websocket.close", "code": 1011})
        finally:
            seconds = time.perf_counter() - start
            if http:
                metrics.in_flight -= 1
                options = options_of(scope)
                metrics.observe(options.name if options else "-", scope["method"], status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                log_request(scope, status, seconds)
