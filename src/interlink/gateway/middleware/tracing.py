"""A SERVER span per HTTP request, the parent of every message the request causes.

Stacked only when tracing is on (opentelemetry-api installed); steps aside per
request while no SDK tracer provider is installed. The span continues the
client's ``traceparent`` and is current while the route runs, so the bus's
CLIENT and PRODUCER spans are its children. Named ``METHOD /path/template``
with the HTTP semantic-convention attributes; a 5xx answer sets ERROR.
"""

from __future__ import annotations

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlink.gateway._inputs import TRACEPARENT
from interlink.gateway._router import ROUTE
from interlink.observe import _tracing


class Tracing:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = _tracing.tracer()
        if tracer is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        route = state.get(ROUTE)
        template = getattr(getattr(route, "route", None), "path", None) or scope.get("path", "")
        method = scope.get("method", "GET")
        parent = _tracing.parent_of(_header(scope, b"traceparent"))
        span = tracer.start_span(f"{method} {template}", context=parent, kind=SpanKind.SERVER, attributes={
            "http.request.method": method, "http.route": template, "url.path": scope.get("path", ""),
            "url.scheme": scope.get("scheme", "http"), "interlink.route": route.options.name if route else "",
        })
        state[TRACEPARENT] = _tracing.traceparent_of(span)
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = context.attach(trace.set_span_in_context(span))
        try:
            await self.app(scope, receive, sending)
        except BaseException as exc:
            _tracing.failed(span, exc)
            raise
        finally:
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
            context.detach(token)
            span.end()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None
