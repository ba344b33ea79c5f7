"""Stream routes: the messages published on a subject pattern, live, by SSE or WebSocket.

    - path: /rides/{ride_id}/events
      stream: ride.{ride_id}.>

The gateway subscribes once per stream route (path parameters as ``*``,
broadcast and non-durable: every gateway instance gets every message while it
runs) and fans each message out to the clients whose pattern matches. A client
gets ``{"subject": ..., "body": ...}`` per message: an SSE ``data:`` line (with the
message id as the event id) on ``GET``, a text frame on a WebSocket. A client
that falls ``QUEUE`` messages behind is disconnected, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from interlink._context import Context
from interlink._service import Service
from interlink._subjects import matches
from interlink.gateway._config import Route, stream_pattern
from interlink.gateway._http import HTTPError, reject, retry_after
from interlink.gateway._routes import RouteEndpoint, Runtime

QUEUE = 256
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\Z")
_Item = tuple[str, bytes] | None  # (message id, JSON) or None: you fell behind, goodbye


class Hub:
    """Messages on the stream patterns, fanned out to the connected clients.

    Clients are kept per subscription (a route's pattern with ``*`` for its parameters), so
    that two routes whose patterns overlap never give one client a message twice.
    """

    def __init__(self, max_streams: int) -> None:
        self.max_streams = max_streams
        self.count = 0
        # subscription pattern -> client pattern -> queues
        self._clients: dict[str, dict[str, set[asyncio.Queue[_Item]]]] = {}

    def declare(self, service: Service, patterns: set[str]) -> None:
        for pattern in sorted(patterns):
            service.subscribe(pattern, broadcast=True)(_fan_out(self._clients.setdefault(pattern, {})))

    @contextlib.contextmanager
    def client(self, subscription: str, pattern: str) -> Iterator[asyncio.Queue[_Item]]:
        if self.count >= self.max_streams:
            raise HTTPError(503, "overloaded", "too many open streams; try again later", headers=retry_after(5))
        queue: asyncio.Queue[_Item] = asyncio.Queue(QUEUE)
        clients = self._clients.setdefault(subscription, {})
        self.count += 1
        clients.setdefault(pattern, set()).add(queue)
        try:
            yield queue
        finally:
            self.count -= 1
            queues = clients[pattern]
            queues.discard(queue)
            if not queues:
                del clients[pattern]


def _fan_out(clients: dict[str, set[asyncio.Queue[_Item]]]) -> Callable[[Any, Context], Awaitable[None]]:
    async def on_message(body: Any, ctx: Context) -> None:
        _deliver(clients, ctx.subject, ctx.message_id, body)
    return on_message


def _deliver(clients: dict[str, set[asyncio.Queue[_Item]]], subject: str, message_id: str, body: Any) -> None:
    data: bytes | None = None
    for pattern, queues in clients.items():
        if not matches(pattern, subject):
            continue
        if data is None:  # encoded once for every client
            data = msgspec.json.encode({"subject": subject, "body": body})
        for queue in queues:
            try:
                queue.put_nowait((message_id, data))
            except asyncio.QueueFull:  # too far behind: drop what waits, tell it to go
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)


class StreamRoute(RouteEndpoint):
    def __init__(self, route: Route, runtime: Runtime, hub: Hub) -> None:
        super().__init__(route, runtime)
        self.hub = hub
        self.subscription = stream_pattern(route.subject, route.path_params)
        self.heartbeat = runtime.config.limits.heartbeat

    def pattern(self, params: dict[str, Any]) -> str:
        tokens = []
        for token in self.route.subject.split("."):
            if token.startswith("{") and token.endswith("}"):
                token = str(params[token[1:-1]])
                if not _TOKEN.match(token):  # a "." or wildcard would widen the subscription
                    raise HTTPError(422, "invalid", f"path parameter must match {_TOKEN.pattern[:-2]}")
            tokens.append(token)
        return ".".join(tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            try:
                pattern = self.pattern(scope["path_params"])
                with self.hub.client(self.subscription, pattern) as queue:
                    await self._websocket(WebSocket(scope, receive, send), queue)
            except HTTPError as exc:
                await reject(scope, receive, send, exc)
            return
        await super().__call__(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        pattern = self.pattern(request.path_params)
        if self.hub.count >= self.hub.max_streams:
            raise HTTPError(503, "overloaded", "too many open streams; try again later", headers=retry_after(5))
        return StreamingResponse(self._events(pattern), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def _events(self, pattern: str) -> AsyncIterator[bytes]:
        with self.hub.client(self.subscription, pattern) as queue:
            yield b": connected\n\n"
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), self.heartbeat)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if item is None:
                    yield b"event: overflow\ndata: {}\n\n"
                    return
                yield b"id: " + item[0].encode() + b"\ndata: " + item[1] + b"\n\n"

    async def _websocket(self, ws: WebSocket, queue: asyncio.Queue[_Item]) -> None:
        await ws.accept()
        closed = asyncio.ensure_future(_closed(ws))
        try:
            while True:
                get = asyncio.ensure_future(queue.get())
                await asyncio.wait({get, closed}, return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    get.cancel()
                    return
                item = get.result()
                if item is None:
                    await ws.close(1013, "too far behind")
                    return
                await ws.send_text(item[1].decode())
        finally:
            closed.cancel()


async def _closed(ws: WebSocket) -> None:
    """Returns when the client goes away (messages from the client are ignored)."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
