"""Send routes (request/async response over HTTP) and the reply endpoint of the gateway.

``POST /rides`` with ``send: trip.create`` answers 202 at once with ``Location:
/replies/ID``. The service's reply goes to the gateway's own endpoint
(``interlink-gateway.NAME.replies``, durable, so replies wait while no gateway
runs) and is kept for ``limits.reply_ttl`` seconds. ``GET /replies/ID`` answers
202 until the reply is there, then 200 with it (or the mapped error);
``?wait=SECONDS`` waits for it (at most 30 s), and ``Accept: text/event-stream``
streams one event when it comes. Every gateway instance of the same name keeps
every reply, so the GET may reach any of them once the reply has arrived.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from interlink._context import Context
from interlink._errors import RemoteError
from interlink._service import Service
from interlink.gateway._config import RateLimit
from interlink.gateway._http import HTTPError, error_response, from_exception, json_response
from interlink.gateway._inputs import IDENTITY, Identity
from interlink.gateway._router import Options
from interlink.gateway._routes import RouteEndpoint, Runtime

MAX_WAIT = 30.0


@dataclass(slots=True)
class _Entry:
    owner: str | None
    created: float
    done: bool = False
    value: Any = None
    error: RemoteError | None = None
    waiters: list[asyncio.Event] = field(default_factory=list)


class Replies:
    """The replies of sends, by correlation id: at most ``max_items``, each for ``ttl`` seconds."""

    def __init__(self, max_items: int, ttl: float) -> None:
        self.max_items = max_items
        self.ttl = ttl
        self._items: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def expect(self, cid: str, owner: str | None) -> None:
        entry = self._items.get(cid)
        if entry is not None:  # the reply was quicker than this bookkeeping
            entry.owner = owner
            return
        self._prune()
        self._items[cid] = _Entry(owner, time.monotonic())

    def owner(self, cid: str) -> str | None:
        entry = self._items.get(cid)
        return entry.owner if entry is not None else None

    def arrived(self, cid: str, value: Any, owner: str | None = None) -> None:
        entry = self._items.get(cid)
        if entry is None:  # sent by another gateway instance, or before a restart
            self._prune()
            entry = self._items[cid] = _Entry(owner, time.monotonic())
        if entry.done:
            return
        entry.done = True
        if isinstance(value, RemoteError):
            entry.error = value
        else:
            entry.value = value
        for event in entry.waiters:
            event.set()

    def get(self, cid: str, client: str | None) -> _Entry | None:
        entry = self._items.get(cid)
        if entry is None or time.monotonic() - entry.created > self.ttl:
            return None
        if entry.owner is not None and entry.owner != client:
            return None  # not yours: as if it did not exist
        return entry

    async def wait(self, entry: _Entry, seconds: float) -> None:
        if entry.done or seconds <= 0:
            return
        event = asyncio.Event()
        entry.waiters.append(event)
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            entry.waiters.remove(event)

    def _prune(self) -> None:
        items = self._items
        limit = time.monotonic() - self.ttl
        while items and (len(items) >= self.max_items or next(iter(items.values())).created < limit):
            items.popitem(last=False)

    def declare(self, service: Service, subject: str, shared: str) -> None:
        """Serve the reply endpoint on ``service``; share each reply with the other gateway instances."""

        @service.endpoint(subject)
        async def on_reply(body: Any, ctx: Context) -> None:
            cid = ctx.correlation_id
            self.arrived(cid, body)
            wire = {"error": body.to_wire()} if isinstance(body, RemoteError) else {"value": body}
            await ctx.publish(shared, {"id": cid, "owner": self.owner(cid), **wire}, durable=False)

        @service.subscribe(shared, broadcast=True)
        async def on_shared(body: Any) -> None:
            if isinstance(body, dict) and isinstance(body.get("id"), str):
                value = RemoteError.from_wire(body["error"]) if "error" in body else body.get("value")
                owner = body.get("owner")
                self.arrived(body["id"], value, owner if isinstance(owner, str) else None)


def _owner(request: Request) -> str | None:
    identity: Identity | None = request.scope.get("state", {}).get(IDENTITY)
    return identity.client if identity is not None and identity.authenticated else None


class SendRoute(RouteEndpoint):
    def __init__(self, route: Any, runtime: Runtime, replies: Replies, reply_subject: str) -> None:
        super().__init__(route, runtime)
        self.replies = replies
        self.reply_subject = reply_subject
        self.location = runtime.config.replies_path.rstrip("/") + "/"

    async def handle(self, request: Request) -> Response:
        body, headers = await self.message(request, idempotent_id=True)
        cid = await self.bus.send(self.subject, body, reply_to=self.reply_subject, headers=headers)
        self.replies.expect(cid, _owner(request))
        location = self.location + cid
        return json_response({"id": cid, "status": "pending", "location": location}, 202, {"Location": location})


class ReplyRoute:
    """``GET {replies_path}/{id}``: the reply of a send, once it is there."""

    def __init__(self, replies: Replies, auth: str, rate_limit: RateLimit | None) -> None:
        self.replies = replies
        self.options = Options("reply", auth, rate_limit=rate_limit)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        try:
            response = await self.handle(request)
        except HTTPError as exc:
            response = exc.response()
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        entry = self.replies.get(request.path_params["id"], _owner(request))
        if entry is None:
            return error_response(404, "not_found", "no such reply (unknown or expired)")
        if "text/event-stream" in request.headers.get("accept", ""):
            return StreamingResponse(self._events(entry), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        try:
            wait = min(float(request.query_params.get("wait", 0)), MAX_WAIT)
        except ValueError:
            raise HTTPError(400, "bad_request", "wait must be a number of seconds") from None
        await self.replies.wait(entry, wait)
        if not entry.done:
            return json_response({"id": request.path_params["id"], "status": "pending"}, 202, {"Retry-After": "1"})
        if entry.error is not None:
            return from_exception(entry.error).response()
        return json_response(entry.value)

    async def _events(self, entry: _Entry) -> AsyncIterator[bytes]:
        end = entry.created + self.replies.ttl
        while not entry.done:
            if time.monotonic() >= end:  # expired: nothing more will come
                yield b"event: expired\ndata: {}\n\n"
                return
            await self.replies.wait(entry, min(MAX_WAIT, end - time.monotonic()))
            if not entry.done:
                yield b": waiting\n\n"
        if entry.error is not None:
            error = from_exception(entry.error)
            data = {"status": error.status, "error": error.code, "message": error.message}
            yield b"event: error\ndata: " + msgspec.json.encode(data) + b"\n\n"
        else:
            yield b"event: reply\ndata: " + msgspec.json.encode(entry.value) + b"\n\n"
