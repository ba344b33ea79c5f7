"""Matching a request to a route: 404 and 405 as short JSON, path parameters, route options.

The router runs early in the stack, so that the middleware inside it (limits,
auth, rate limit) read the matched route's options from ``scope["state"]["route"]``.
The innermost app, :class:`Dispatch`, calls the route.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from re import Pattern
from typing import Any, Protocol

from starlette.convertors import Convertor, StringConvertor
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from interlink.gateway._config import RateLimit
from interlink.gateway._http import HTTPError, reject

ROUTE = "route"


@dataclass(frozen=True, slots=True)
class Options:
    """What the middleware need to know about a route."""

    name: str
    auth: str = "none"  # "required", "optional" or "none"
    claims: dict[str, Any] = field(default_factory=dict)
    rate_limit: RateLimit | None = None
    own_rate_limit: bool = False  # the route's own limit (own buckets), not the gateway-wide one
    max_body: int | None = None
    query_token: bool = False  # streams: browsers cannot set headers on EventSource and WebSocket


class Endpoint(Protocol):
    """A route's handler: an ASGI app with options."""

    options: Options

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


@dataclass(slots=True)
class _Path:
    regex: Pattern[str]
    convertors: dict[str, Convertor[Any]]
    http: dict[str, Endpoint] = field(default_factory=dict)
    websocket: Endpoint | None = None
    plain: bool = False  # every parameter a string: the match's groups are the parameters


class Router:
    """Finds the route of a request and hands it to ``app`` (the rest of the stack)."""

    def __init__(self, app: ASGIApp, routes: Sequence[tuple[str, str, Endpoint]]) -> None:
        """``routes``: (method or "WEBSOCKET", path, endpoint)."""
        self.app = app
        paths: dict[str, _Path] = {}
        for method, path, endpoint in routes:
            if path not in paths:
                regex, _, convertors = compile_path(path)
                paths[path] = _Path(regex, convertors, plain=all(isinstance(c, StringConvertor)
                                                                 for c in convertors.values()))
            if method == "WEBSOCKET":
                paths[path].websocket = endpoint
            else:
                paths[path].http[method] = endpoint
        self.paths = list(paths.values())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        websocket = scope["type"] == "websocket"
        allowed: list[str] = []
        for entry in self.paths:
            found = entry.regex.match(scope["path"])
            if found is None:
                continue
            endpoint = entry.websocket if websocket else entry.http.get(scope["method"])
            if endpoint is None:
                allowed.extend(entry.http)
                continue
            params = found.groupdict()
            scope["path_params"] = params if entry.plain else {k: entry.convertors[k].convert(v)
                                                               for k, v in params.items()}
            scope.setdefault("state", {})[ROUTE] = endpoint
            await self.app(scope, receive, send)
            return
        if allowed and not websocket:
            error = HTTPError(405, "method_not_allowed", "this method is not allowed here",
                              headers={"Allow": ", ".join(sorted(set(allowed)))})
        else:
            error = HTTPError(404, "not_found", "no such route")
        await reject(scope, receive, send, error)


async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
    """The innermost app: the matched route."""
    await scope["state"][ROUTE](scope, receive, send)


def options_of(scope: Scope) -> Options | None:
    route = scope.get("state", {}).get(ROUTE)
    return route.options if route is not None else None
