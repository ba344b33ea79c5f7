"""The Gateway: routes and middleware built in one place, as one ASGI app, on a bus.

    async with interlink.connect("nats://127.0.0.1:4222", name="gateway") as bus:
        gateway = Gateway(load_config("gateway.yaml"), bus)
        await gateway.start()                  # its reply endpoint and stream subscriptions
        await uvicorn.Server(server_config(gateway, port=8000)).serve()

or simply ``await serve("gateway.yaml", "nats://127.0.0.1:4222", port=8000)``, which
is what ``interlink gateway CONFIG --broker URL`` runs (see ``_serve``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_type_hints

from starlette.types import ASGIApp, Receive, Scope, Send

from interlink._bus import Bus, Instance
from interlink._service import Service
from interlink.gateway._builtin import builtins
from interlink.gateway._compose import ComposeRoute
from interlink.gateway._config import ConfigError, GatewayConfig, load_config, stream_pattern
from interlink.gateway._inputs import resolve_type
from interlink.gateway._openapi import openapi
from interlink.gateway._replies import Replies, ReplyRoute, SendRoute
from interlink.gateway._router import Endpoint, Router, dispatch
from interlink.gateway._routes import GatherRoute, NotifyRoute, PublishRoute, RequestRoute, RouteEndpoint, Runtime
from interlink.gateway._stream import Hub, StreamRoute
from interlink.gateway.middleware import Authenticate, Authenticator, Cors, Edge, GatewayMetrics, Limits, RateLimiter
from interlink.observe import tracing_enabled

if TYPE_CHECKING:  # the dashboard extra may not be installed
    from interlink.gateway._dashboard import Dashboard

_KINDS: dict[str, type[RouteEndpoint]] = {"request": RequestRoute, "notify": NotifyRoute, "publish": PublishRoute,
                                          "gather": GatherRoute, "compose": ComposeRoute}


class Gateway:
    """The HTTP edge of the services on ``bus``: an ASGI application.

    ``services`` (optional) are the services the gateway fronts, when it runs in
    their process: routes without a declared body type then validate against the
    endpoint's own body type, and the OpenAPI document shows their replies.
    """

    def __init__(self, config: GatewayConfig | str | Path, bus: Bus, *, services: Iterable[Service] = ()) -> None:
        self.config = config if isinstance(config, GatewayConfig) else load_config(config)
        self.bus = bus
        body_types, self._reply_types = _types(services)
        self.runtime = Runtime(bus, self.config, body_types)
        name = self.config.name
        self.service = Service(f"interlink-gateway-{name}")
        self.reply_subject = f"interlink-gateway.{name}.replies"
        self.ping_subject = f"interlink-gateway.{name}.ping"
        self.replies = Replies(self.config.limits.max_replies, self.config.limits.reply_ttl)
        self.hub = Hub(self.config.limits.max_streams)
        self.endpoints = self._endpoints()
        self._declare()
        self.metrics = GatewayMetrics(lambda: bus.policies, self._targets())
        self.dashboard: Dashboard | None = None
        self.app = self.build_stack()
        self._instance: Instance | None = None

    def _endpoints(self) -> list[RouteEndpoint]:
        out: list[RouteEndpoint] = []
        for route in self.config.routes:
            try:
                if route.kind == "send":
                    out.append(SendRoute(route, self.runtime, self.replies, self.reply_subject))
                elif route.kind == "stream":
                    out.append(StreamRoute(route, self.runtime, self.hub))
                else:
                    out.append(_KINDS[route.kind](route, self.runtime))
            except ConfigError as exc:
                raise ConfigError(f"route {route.name}: {exc}") from None
        return out

    def _declare(self) -> None:
        """The gateway's own service: the reply endpoint of sends, a ping for /readyz, the stream subscriptions."""
        shared = f"interlink-gateway.{self.config.name}.replies-shared"
        self.replies.declare(self.service, self.reply_subject, shared)

        @self.service.endpoint(self.ping_subject, durable=False)
        async def ping(body: Any) -> str:
            return "pong"

        patterns = {stream_pattern(r.subject, r.path_params) for r in self.config.routes if r.kind == "stream"}
        self.hub.declare(self.service, patterns)

    def _targets(self) -> list[tuple[str, str, Any, Any]]:
        """(route name, subject, breaker settings, bulkhead size) of every call that has a policy."""
        targets = []
        for endpoint in self.endpoints:
            if isinstance(endpoint, RequestRoute):
                p = endpoint.policy
                targets.append((endpoint.options.name, endpoint.route.subject, p.breaker, p.max_concurrent))
            elif isinstance(endpoint, ComposeRoute):
                for plan in endpoint.plans:
                    if plan.part.request is not None:
                        targets.append((f"{endpoint.options.name}.{plan.part.name}", plan.part.subject,
                                        plan.policy.breaker, plan.policy.max_concurrent))
        return targets

    def routes(self) -> list[tuple[str, str, Endpoint]]:
        """(method, path, endpoint) of everything the gateway serves."""
        c = self.config
        table: list[tuple[str, str, Endpoint]] = []
        for endpoint in self.endpoints:
            table.append((endpoint.route.method, endpoint.route.path, endpoint))
            if isinstance(endpoint, StreamRoute):
                table.append(("WEBSOCKET", endpoint.route.path, endpoint))
        auth = "optional" if c.auth is not None else "none"
        table.append(("GET", c.replies_path.rstrip("/") + "/{id}", ReplyRoute(self.replies, auth, c.rate_limit)))
        spec = openapi(c, [(e.route, e.inputs, self._reply_type(e)) for e in self.endpoints])
        for path, builtin in builtins(self.bus, self.ping_subject, self.runtime.unserved, self.metrics, spec,
                                      c.docs, c.title):
            table.append(("GET", path, builtin))
        return table

    def _reply_type(self, endpoint: RouteEndpoint) -> Any:
        route = endpoint.route
        return resolve_type(route.reply_type) if route.reply_type is not None else self._reply_types.get(route.subject)

    def build_stack(self) -> ASGIApp:
        """The whole stack, outermost last: every middleware wraps the app built so far."""
        c = self.config
        app: ASGIApp = dispatch
        if c.rate_limit is not None or any(r.rate_limit is not None for r in c.routes):
            app = RateLimiter(app)
        if c.auth is not None:
            app = Authenticate(app, Authenticator(c.auth))
        app = Limits(app, c.limits)
        if tracing_enabled():
            from interlink.gateway.middleware.tracing import Tracing

            app = Tracing(app)
        app = Router(app, self.routes())
        if c.dashboard is not None and c.auth is not None:  # its own checks: SSE streams outlive Limits
            from interlink.gateway._dashboard import Dashboard

            app = self.dashboard = Dashboard(app, c.dashboard, c.auth, self.bus)
        if c.cors is not None:
            app = Cors(app, c.cors)
        return Edge(app, self.metrics)

    async def start(self) -> Gateway:
        """Serve the gateway's own endpoints on the bus; returns once they are live."""
        if self._instance is None:
            self._instance = await self.bus.serve(self.service)
            if self.dashboard is not None:
                await self.dashboard.board.start()
        return self

    async def close(self) -> None:
        instance, self._instance = self._instance, None
        if self.dashboard is not None:
            await self.dashboard.board.close()
        if instance is not None:
            await instance.stop()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """For servers run with a lifespan: start with the server, close with it."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.bus.start()
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _types(services: Iterable[Service]) -> tuple[dict[str, Any], dict[str, Any]]:
    bodies: dict[str, Any] = {}
    replies: dict[str, Any] = {}
    for service in services:
        for spec in service.handlers:
            if spec.kind == "endpoint":
                bodies[spec.subject] = spec.body_type
                with contextlib.suppress(Exception):  # an unresolvable return type only loses documentation
                    replies[spec.subject] = get_type_hints(spec.func).get("return")
    return bodies, replies
