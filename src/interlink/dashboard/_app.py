"""The dashboard's HTTP side: pages, live fragments over SSE, and the dead-letter actions.

Pages are rendered whole on the server; htmx (shipped in ``static/``) keeps them
live: each page opens one ``/events/VIEW`` stream, whose ``update`` events carry the
view's fragment after every sample and whose ``banner`` events carry the broker's
state. Actions are POSTs answered with a fragment; each is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from interlink._subjects import matches
from interlink.dashboard import _inputs as check
from interlink.dashboard import _views as views
from interlink.dashboard._board import Board
from interlink.dashboard._inputs import BadInput
from interlink.dashboard._render import render

TAIL_EVERY = 0.5  # seconds between batches of the live tail
KEEPALIVE = 15.0
MAX_FORM = 4096

Endpoint = Callable[[Request], Awaitable[Response]]


def dashboard_app(board: Board) -> Starlette:
    """The dashboard as an ASGI app over ``board`` (mount it anywhere: links follow ``root_path``)."""
    pages = {name: _page(board, name) for name in views.PAGES}
    routes = [
        Route("/", lambda request: _redirect(request, "topology")),
        Route("/healthz", _guarded(lambda request: _health(board))),
        *(Route(f"/{name}", page) for name, page in pages.items()),
        Route("/events/{view}", _guarded(lambda request: _events(board, request))),
        Route("/tail/control", _guarded(lambda request: _tail_control(request))),
        Route("/dead-letters/replay-all", _guarded(lambda request: _replay_all(board, request)), methods=["POST"]),
        Route("/dead-letters/purge", _guarded(lambda request: _purge(board, request)), methods=["POST"]),
        Route("/dead-letters/{letter_id}", _guarded(lambda request: _letter(board, request))),
        Route("/dead-letters/{letter_id}/replay", _guarded(lambda request: _replay(board, request)), methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("interlink.dashboard", "static")])),
    ]
    return Starlette(routes=routes)


def _guarded(endpoint: Endpoint) -> Endpoint:
    """Bad input becomes a 400 (an HTML fragment for htmx, the gateway's JSON error otherwise)."""
    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except BadInput as exc:
            return _error(request, exc.status, exc.message)
    return run


def _error(request: Request, status: int, message: str) -> Response:
    if request.headers.get("hx-request") == "true":
        return HTMLResponse(render("_result.html", ok=False, message=message), status)
    return JSONResponse({"error": "not_found" if status == 404 else "bad_request", "message": message}, status)


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


async def _redirect(request: Request, view: str) -> Response:
    return RedirectResponse(f"{_root(request)}/{view}", 303)


async def _health(board: Board) -> Response:
    status = board.status
    return JSONResponse({"broker": "connected" if status.connected else "unreachable", "message": status.message,
                         "samples": board.samples,
                         "sampling": board.sampling, "heard": board.traffic.total}, 200 if status.connected else 503)


def _page(board: Board, name: str) -> Endpoint:
    async def page(request: Request) -> Response:
        params = check.parameters(request.query_params, views.PAGES[name])
        values = views.values(board, name, params)
        query = views.query_string(params)
        return HTMLResponse(render(views.TEMPLATES[name], board=board, root=_root(request), view=name,
                                   title=views.TITLES[name], query=query, **values))
    return _guarded(page)


async def _events(board: Board, request: Request) -> Response:
    view = request.path_params["view"]
    if view == "tail":
        return await _tail(board, request)
    if view not in views.PAGES and view != "status":
        raise BadInput(f"no live view {view!r}", 404)
    params = check.parameters(request.query_params, views.PAGES.get(view, {}))
    root = _root(request)

    async def stream() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        last = ""
        while True:
            yield sse("banner", render("_banner.html", board=board))
            if view != "status":
                fragment = render(views.FRAGMENTS[view], board=board, root=root, **views.values(board, view, params))
                if fragment != last:
                    yield sse("update", fragment)
                    last = fragment
            await board.next_sample(KEEPALIVE)

    return _stream(stream())


async def _tail(board: Board, request: Request) -> Response:
    params = check.parameters(request.query_params, {"pattern": check.pattern})
    pattern = params["pattern"] or ">"
    root = _root(request)

    async def stream() -> AsyncIterator[str]:
        listener = board.traffic.listen(lambda subject: matches(pattern, subject))
        try:
            yield "retry: 2000\n\n"
            quiet = 0.0
            while True:
                await asyncio.sleep(TAIL_EVERY)
                rows = list(listener.waiting)
                listener.waiting.clear()
                dropped, listener.dropped = listener.dropped, 0
                if rows or dropped:
                    yield sse("rows", render("_tail_rows.html", rows=rows[::-1], dropped=dropped, root=root))
                    quiet = 0.0
                else:
                    quiet += TAIL_EVERY
                    if quiet >= KEEPALIVE:
                        yield ": still here\n\n"
                        quiet = 0.0
        finally:
            board.traffic.unlisten(listener)

    return _stream(stream())


def _stream(body: AsyncIterator[str]) -> Response:
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def sse(event: str, data: str) -> str:
    lines = "\n".join(f"data: {line}" for line in data.splitlines() or [""])
    return f"event: {event}\n{lines}\n\n"


async def _tail_control(request: Request) -> Response:
    params = check.parameters(request.query_params, {"pattern": check.pattern, "paused": check.flag})
    return HTMLResponse(render("_tail_control.html", root=_root(request), pattern=params["pattern"] or ">",
                               paused=params["paused"] == "1"))


# -- dead letters -----------------------------------------------------------------


async def _letter(board: Board, request: Request) -> Response:
    letter_id = check.identifier(request.path_params["letter_id"])
    letter = await views.find_letter(board, letter_id)
    body = render("_letter.html", root=_root(request), letter=letter, letter_id=letter_id)
    return HTMLResponse(body, 200 if letter is not None else 404)


async def _form(request: Request, accepted: dict[str, check.Check]) -> dict[str, str]:
    """The fields of a URL-encoded form (what htmx sends), at most MAX_FORM bytes."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise BadInput(f"a form of at most {MAX_FORM} bytes expected")
    if body and not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise BadInput("a form (application/x-www-form-urlencoded) expected")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=len(accepted) + 1)
    except (UnicodeDecodeError, ValueError):
        raise BadInput("the form cannot be read (UTF-8, at most one field per parameter)") from None
    return check.parameters(ImmutableMultiDict(pairs), accepted)


def _who(request: Request) -> str:
    return str(request.scope.get("state", {}).get("dashboard_user", "operator"))


async def _replay(board: Board, request: Request) -> Response:
    letter_id = check.identifier(request.path_params["letter_id"])
    await _form(request, {})
    return _result(*await views.replay_one(board, letter_id, _who(request)))


async def _replay_all(board: Board, request: Request) -> Response:
    filters = await _form(request, views.LETTER_FILTERS)
    return _result(*await views.replay_matching(board, filters, _who(request)))


async def _purge(board: Board, request: Request) -> Response:
    filters = await _form(request, views.LETTER_FILTERS)
    return _result(*await views.purge_matching(board, filters, _who(request)))


def _result(status: int, message: str) -> Response:
    return HTMLResponse(render("_result.html", ok=status == 200, message=message), status)

