"""Request size and time limits: headers (431), body size (413), a body that never finishes (408).

The body limit is the route's ``max_body`` or ``limits.max_body``. A declared
``Content-Length`` over it is refused before reading; a chunked body is counted
as it arrives. The body must arrive within ``limits.body_timeout`` seconds, so a
client that stops sending never holds a worker.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlink.gateway._config import Limits as LimitsConfig
from interlink.gateway._http import HTTPError, reject
from interlink.gateway._router import options_of


class Limits:
    def __init__(self, app: ASGIApp, config: LimitsConfig) -> None:
        self.app = app
        self.max_body = config.max_body
        self.max_headers = config.max_headers
        self.body_timeout = config.body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        size = 0
        declared = -1  # the largest Content-Length given; -2: one is not a number
        chunked = False
        for name, value in scope["headers"]:  # one pass: the size, and whether a body comes
            size += len(name) + len(value)
            if name == b"content-length":
                declared = max(declared, int(value)) if value.isdigit() and declared != -2 else -2
            elif name == b"transfer-encoding":
                chunked = True
        if size > self.max_headers:
            await reject(scope, receive, send, HTTPError(431, "headers_too_large", "the request headers are too large"))
            return
        if scope["type"] != "http" or (declared == -1 and not chunked):  # no body: nothing to count or time
            await self.app(scope, receive, send)
            return
        if declared == -2:
            await reject(scope, receive, send, HTTPError(400, "bad_request", "invalid Content-Length"))
            return
        options = options_of(scope)
        limit = (options.max_body if options else None) or self.max_body
        if declared > limit:
            await reject(scope, receive, send, _too_large(limit))
            return
        await self.app(scope, _Body(receive, limit, self.body_timeout), send)


def _too_large(limit: int) -> HTTPError:
    return HTTPError(413, "too_large", f"the body is larger than {limit} bytes")


class _Body:
    """``receive`` with a byte count and a deadline, until the body is complete."""

    __slots__ = ("_deadline", "_done", "_limit", "_receive", "_seen", "_timeout")

    def __init__(self, receive: Receive, limit: int, timeout: float) -> None:
        self._receive = receive
        self._limit = limit
        self._timeout = timeout
        self._deadline: float | None = None
        self._seen = 0
        self._done = False

    async def __call__(self) -> Message:
        if self._done:  # after the body: waiting for a disconnect (streams) has no deadline
            return await self._receive()
        loop = asyncio.get_running_loop()
        if self._deadline is None:
            self._deadline = loop.time() + self._timeout
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            raise HTTPError(408, "timeout", "the request body did not arrive in time") from None
        if message["type"] == "http.request":
            self._seen += len(message.get("body", b""))
            if self._seen > self._limit:
                raise _too_large(self._limit)
            self._done = not message.get("more_body", False)
        return message
