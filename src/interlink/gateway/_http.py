"""HTTP answers of the gateway: short JSON errors, and interlink errors mapped to statuses.

Every error body is ``{"error": CODE, "message": TEXT}`` (plus ``"details"`` where the
service gave some). Messages are fixed texts or a service's own typed-error message:
never a stack trace, a subject or an instance name.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from interlink._errors import (
    BrokerError,
    CircuitOpen,
    NoResponders,
    Overloaded,
    RemoteError,
    RequestTimeout,
    ValidationError,
)

JSON = "application/json"
_JSON_BYTES = JSON.encode()
_encode = msgspec.json.Encoder().encode

#: RemoteError codes a service answers with, and the HTTP status each becomes (others: 502).
REMOTE_STATUS = {"not_found": 404, "invalid": 422, "conflict": 409, "unauthorized": 401, "forbidden": 403}
#: Typed errors whose message and details were written for the caller.
_CLIENT_CODES = frozenset(REMOTE_STATUS)


class HTTPError(Exception):
    """An answer other than success, raised anywhere before the response starts."""

    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    def response(self) -> Response:
        return error_response(self.status, self.code, self.message, self.details, self.headers)


class JSONResponse(Response):
    """A JSON answer, built and sent with the least work: every route's success goes through here.

    Starlette's Response works out its headers from a mutable mapping and checks for
    background tasks; this one only encodes the body and lists the raw headers once.
    """

    media_type = JSON

    def __init__(self, value: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.background = None
        body = self.body = _encode(value)
        raw = [(b"content-length", b"%d" % len(body)), (b"content-type", _JSON_BYTES)]
        if headers:
            raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(value, status, headers)


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"error": code, "message": message}
    if details is not None:
        body["details"] = details
    return json_response(body, status, headers)


async def reject(scope: Scope, receive: Receive, send: Send, error: HTTPError) -> None:
    """Answer an HTTP request or refuse a WebSocket handshake with ``error``."""
    if scope["type"] == "websocket":
        if "websocket.http.response" in scope.get("extensions", {}):
            response = error.response()
            await send({"type": "websocket.http.response.start", "status": error.status,
                        "headers": response.raw_headers})
            await send({"type": "websocket.http.response.body", "body": response.body})
        else:
            await send({"type": "websocket.close", "code": 1008})
        return
    await error.response()(scope, receive, send)


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def from_exception(exc: Exception) -> HTTPError:
    """The HTTP answer for an error of a call to a service."""
    if isinstance(exc, HTTPError):
        return exc
    if isinstance(exc, RemoteError):
        if exc.code in _CLIENT_CODES:
            return HTTPError(REMOTE_STATUS[exc.code], exc.code, exc.message or exc.code, exc.details)
        return HTTPError(502, "bad_gateway", "the service failed to answer")
    if isinstance(exc, RequestTimeout):
        return HTTPError(504, "timeout", "the service did not answer in time")
    if isinstance(exc, CircuitOpen):
        return HTTPError(503, "unavailable", "the service is failing; try again later",
                         headers=retry_after(exc.retry_after))
    if isinstance(exc, Overloaded):
        return HTTPError(503, "overloaded", "too many requests in progress; try again later",
                         headers=retry_after(1))
    if isinstance(exc, NoResponders | BrokerError):
        return HTTPError(503, "unavailable", "the service is not available", headers=retry_after(1))
    if isinstance(exc, ValidationError):  # only a body too large for the broker gets here
        return HTTPError(413, "too_large", "the request is too large to forward")
    return HTTPError(500, "internal", "internal error")
