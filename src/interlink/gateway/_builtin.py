"""The gateway's own routes: /healthz, /readyz, /metrics, /openapi.json, /docs."""

from __future__ import annotations

import html
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TYPE_CHECKING

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send

from interlink._errors import InterlinkError
from interlink.gateway._http import json_response
from interlink.gateway._openapi import DOCS_HTML
from interlink.gateway._router import Options
from interlink.observe import metrics_registry

if TYPE_CHECKING:
    from interlink._bus import Bus
    from interlink.gateway.middleware.metrics import GatewayMetrics

UNSERVED_FOR = 30.0  # seconds a target that had no responders counts as not served


class Builtin:
    """A small GET route of the gateway itself (no auth, no rate limit)."""

    def __init__(self, name: str, answer: Callable[[Request], Awaitable[Response]]) -> None:
        self.options = Options(name)
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.answer(Request(scope, receive))
        await response(scope, receive, send)


def builtins(bus: Bus, ping_subject: str, unserved: dict[str, float], metrics: GatewayMetrics,
             spec: dict[str, object], docs: bool, title: str) -> list[tuple[str, Builtin]]:
    spec_body = msgspec.json.encode(spec)

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:  # a round trip through the broker to this gateway's own endpoint
            await bus.request(ping_subject, None, 1.0)
        except InterlinkError:
            return json_response({"status": "unavailable", "broker": False}, 503)
        now = time.monotonic()
        missing = sorted(name for name, when in unserved.items() if now - when < UNSERVED_FOR)
        if missing:
            return json_response({"status": "degraded", "broker": True, "unserved": missing}, 503)
        return json_response({"status": "ready", "broker": True})

    async def metrics_page(request: Request) -> Response:
        page = generate_latest(metrics.registry)
        bus_registry = metrics_registry()  # the bus's own metrics, when they are on
        if bus_registry is not None and bus_registry is not metrics.registry:
            page += generate_latest(bus_registry)
        return Response(page, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def openapi_json(request: Request) -> Response:
        return Response(spec_body, media_type="application/json")

    async def docs_page(request: Request) -> Response:
        return HTMLResponse(DOCS_HTML.format(title=html.escape(title)))

    routes = [("/healthz", Builtin("healthz", healthz)), ("/readyz", Builtin("readyz", readyz)),
              ("/metrics", Builtin("metrics", metrics_page)), ("/openapi.json", Builtin("openapi", openapi_json))]
    if docs:
        routes.append(("/docs", Builtin("docs", docs_page)))
        routes.extend((f"/docs/{name}", _static_file(name)) for name in SWAGGER_UI_FILES)
    return routes


SWAGGER_UI_FILES = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
                    "swagger-ui.css": "text/css; charset=utf-8"}


def _static_file(name: str) -> Builtin:
    """One of Swagger UI's files, shipped in the package (src/interlink/gateway/_static; Apache-2.0)."""
    body = (resources.files("interlink.gateway") / "_static" / "swagger-ui" / name).read_bytes()
    headers = {"Cache-Control": "public, max-age=86400"}

    async def answer(request: Request) -> Response:
        return Response(body, media_type=SWAGGER_UI_FILES[name], headers=headers)

    return Builtin("docs", answer)
