"""The route kinds: HTTP translated into each interaction style.

    request   POST/GET -> bus.request      200 with the reply
    notify    -> bus.notify                202 {"id": message id}
    publish   -> bus.publish               202 {"id": message id}
    gather    -> bus.gather                200 [{"service", "body"}, ...] collected within the window
    send      -> bus.send                  202 + Location (see _replies)
    compose   several requests             200 merged document (see _compose)
    stream    subscription -> SSE / WS     (see _stream)

Every kind builds its message with :class:`Inputs`, so validation, mapping and
the headers the gateway owns (correlation id, trace, caller claims) are the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from interlink._errors import InterlinkError, NoResponders
from interlink._resilience import Policy, Retry
from interlink.gateway._config import Fallback, GatewayConfig, Part, Route
from interlink.gateway._http import HTTPError, from_exception, json_response
from interlink.gateway._inputs import Inputs, Sources
from interlink.gateway._router import Options

if TYPE_CHECKING:
    from interlink._bus import Bus


@dataclass(slots=True)
class Runtime:
    """What every route of one gateway shares."""

    bus: Bus
    config: GatewayConfig
    endpoint_types: dict[str, Any]  # subject -> body type, from the services the gateway knows
    unserved: dict[str, float] = field(default_factory=dict)  # route -> when its target had no responders


class _Fallen:
    """The value a policy's fallback returns, so that the route answers with the route's fallback."""

    __slots__ = ()


FALLEN = _Fallen()


def policy(target: Route | Part, runtime: Runtime, method: str) -> Policy:
    """The resilience policy of a route's (or a compose part's) calls: the route's keys over the defaults."""
    defaults = runtime.config.resilience
    route = target if isinstance(target, Route) else None
    idempotent = route.idempotent if route and route.idempotent is not None else method == "GET"
    retries = (route.retries if route else None) or defaults.retries
    fallback: dict[str, Any] = {"fallback": FALLEN} if target.fallback is not None else {}
    return Policy(
        idempotent=idempotent,
        retry=Retry(attempts=retries),
        breaker=(route.breaker if route else None) or defaults.breaker,
        max_concurrent=(route.max_concurrent if route else None) or defaults.max_concurrent,
        **fallback,
    )


def fallback_response(fallback: Fallback) -> Response:
    return json_response(fallback.body, fallback.status, {"X-Fallback": "true"})


class RouteEndpoint:
    """Base of the route kinds: an ASGI app that answers errors as short JSON."""

    def __init__(self, route: Route, runtime: Runtime) -> None:
        self.route = route
        self.subject = route.subject  # a property of the route that works it out on every read
        self.runtime = runtime
        self.bus = runtime.bus
        self.timeout = route.timeout or runtime.config.timeout
        auth = route.auth or (runtime.config.auth.default if runtime.config.auth else "none")
        self.options = Options(route.name or "", auth, route.claims, route.rate_limit or runtime.config.rate_limit,
                               route.rate_limit is not None, route.max_body, query_token=route.kind == "stream")
        types = runtime.endpoint_types
        body_type = route.body_type
        if body_type is None and route.body_schema is None and route.kind in ("request", "notify", "send"):
            body_type = types.get(self.subject)
        self.inputs = Inputs(route, route.input, body_type, route.body_schema)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self.handle(request)
        except (HTTPError, InterlinkError) as exc:
            if isinstance(exc, NoResponders):  # for /readyz
                self.runtime.unserved[self.options.name] = time.monotonic()
            response = from_exception(exc).response()
        else:
            if self.runtime.unserved:
                self.runtime.unserved.pop(self.options.name, None)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        raise NotImplementedError

    async def message(self, request: Request, *, idempotent_id: bool = False) -> tuple[Any, dict[str, str]]:
        src = await Sources.of(request, self.inputs.reads_body)
        return self.inputs.body(src), self.inputs.headers(src, request, idempotent_id=idempotent_id)


class RequestRoute(RouteEndpoint):
    def __init__(self, route: Route, runtime: Runtime) -> None:
        super().__init__(route, runtime)
        self.policy = policy(route, runtime, route.method)

    async def handle(self, request: Request) -> Response:
        body, headers = await self.message(request)
        reply = await self.bus.request(self.subject, body, self.timeout, headers=headers, policy=self.policy)
        if reply is FALLEN and self.route.fallback is not None:
            return fallback_response(self.route.fallback)
        return json_response(reply)


class NotifyRoute(RouteEndpoint):
    async def handle(self, request: Request) -> Response:
        body, headers = await self.message(request, idempotent_id=True)
        message_id = await self.bus.notify(self.subject, body, headers=headers)
        return json_response({"id": message_id, "status": "accepted"}, 202)


class PublishRoute(RouteEndpoint):
    async def handle(self, request: Request) -> Response:
        body, headers = await self.message(request, idempotent_id=True)
        message_id = await self.bus.publish(self.subject, body, headers=headers)
        return json_response({"id": message_id, "status": "accepted"}, 202)


class GatherRoute(RouteEndpoint):
    async def handle(self, request: Request) -> Response:
        body, headers = await self.message(request)
        route = self.route
        replies = await self.bus.gather(self.subject, body, min(route.within, self.timeout), route.max_replies,
                                        headers=headers)
        return json_response([{"service": r.service, "body": r.body} for r in replies])
