"""Who may use the dashboard when it runs on its own (mounted in the gateway, the gateway's auth decides).

* Bound to a loopback address (the default) it needs no token, but answers only
  requests whose ``Host`` is a loopback name, so that a web page elsewhere cannot
  reach it through a DNS name pointed at 127.0.0.1.
* Bound elsewhere it needs its token: ``Authorization: Bearer TOKEN``, or opening
  ``/?token=TOKEN`` once, which sets an HttpOnly, SameSite=Strict cookie.
* Every change (POST) must come from the dashboard's own page: htmx's ``HX-Request``
  header, and no cross-site ``Origin`` or ``Sec-Fetch-Site``, which a form on
  another site cannot fake.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "interlink_dashboard"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_cross_site(scope: Scope) -> Response | None:
    """403 for a change that does not come from the dashboard's own page; None when it does."""
    if scope.get("method", "GET") in ("GET", "HEAD"):
        return None
    headers = Headers(scope=scope)
    site = headers.get("sec-fetch-site")
    origin = headers.get("origin")
    host = headers.get("host", "")
    if headers.get("hx-request") != "true" or (site is not None and site not in ("same-origin", "none")) \
            or (origin is not None and urlsplit(origin).netloc != host):
        return PlainTextResponse("changes are accepted from the dashboard's own page only", 403)
    return None


class Guard:
    """ASGI middleware for a dashboard served on its own (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback: bool) -> None:
        self.app = app
        self.token = token
        self.loopback = loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._check(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        scope.setdefault("state", {})["dashboard_user"] = "token holder" if self.token else "local user"
        await self.app(scope, receive, send)

    def _check(self, scope: Scope) -> Response | None:
        request = Request(scope)
        if self.token is None:
            if self.loopback and not is_loopback(request.url.hostname or ""):
                return PlainTextResponse("this dashboard answers on its loopback address only", 403)
            return refuse_cross_site(scope)
        given = request.query_params.get("token")
        if given is not None:
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return PlainTextResponse("wrong token", 401)
            return self._signed_in(request)
        bearer = request.headers.get("authorization", "")
        held = bearer[7:] if bearer.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
        if not held or not hmac.compare_digest(held.encode(), self.token.encode()):
            return PlainTextResponse("this dashboard needs its token: open the address it printed at start "
                                     "(ending in ?token=...)", 401)
        return refuse_cross_site(scope)

    def _signed_in(self, request: Request) -> Response:
        """The same address without the token, with the token in a cookie."""
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        path = str(request.scope.get("root_path", "")) + request.url.path.removeprefix(
            str(request.scope.get("root_path", "")))
        response = RedirectResponse(path + (f"?{urlencode(rest)}" if rest else ""), 303)
        response.set_cookie(COOKIE, self.token or "", httponly=True, samesite="strict", path="/")
        return response
