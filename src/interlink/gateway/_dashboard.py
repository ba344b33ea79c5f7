"""The dashboard mounted in the gateway, at the path of its config, behind the gateway's authentication.

    dashboard:
      path: /ops/dashboard
      claims: {role: ops}        # optional: what the caller's token must carry

The first request must carry the gateway's credentials (``Authorization: Bearer``,
the API key header, or, since a browser opening a link cannot set headers,
``?access_token=`` / ``?api_key=``, which are then taken out of the address). It
gets a session cookie (HttpOnly, SameSite=Strict, limited to the path, signed
with a key of this process, valid as long as the token, 8 hours at most) that
the page's own requests and streams use. The dashboard reads the gateway's bus.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlink._bus import Bus
from interlink.gateway._config import Auth, DashboardMount
from interlink.gateway._http import HTTPError
from interlink.gateway._router import Options
from interlink.gateway.middleware.auth import Authenticator, authorized

COOKIE = "interlink_gateway_dashboard"
SESSION = 8 * 3600.0
_CREDENTIALS = ("access_token", "api_key")


class Dashboard:
    """ASGI middleware: requests under the mount path go to the dashboard, the rest on to the gateway."""

    def __init__(self, app: ASGIApp, mount: DashboardMount, auth: Auth, bus: Bus) -> None:
        from interlink.dashboard import Board, dashboard_app
        from interlink.dashboard._guard import refuse_cross_site

        self.app = app
        self.prefix = mount.path
        self.options = Options("dashboard", auth="required", claims=mount.claims)
        self.authenticator = Authenticator(auth)
        self.board = Board(None, bus=bus)
        self.dashboard = dashboard_app(self.board)
        self._refuse_cross_site = refuse_cross_site
        self._key = secrets.token_bytes(32)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return
        answer, user, cookie = await self._admit(scope)
        if answer is not None:
            await answer(scope, receive, send)
            return
        inner = {**scope, "root_path": scope.get("root_path", "") + self.prefix,
                 "state": {**scope.get("state", {}), "dashboard_user": user}}
        await self.dashboard(inner, receive, _with_cookie(send, cookie) if cookie else send)

    async def _admit(self, scope: Scope) -> tuple[Response | None, str, str]:
        """(refusal or None, who, a new session cookie or "")."""
        request = Request(scope)
        session = self._session(request.cookies.get(COOKIE, ""))
        if session is not None:
            return self._refuse_cross_site(scope), session, ""
        try:
            identity = await self.authenticator.identify(Headers(scope=scope), QueryParams(scope["query_string"]))
        except HTTPError as exc:
            return PlainTextResponse(exc.message, exc.status, headers=exc.headers), "", ""
        if identity is None:
            return PlainTextResponse("the dashboard needs the gateway's credentials (a bearer token, an API key, "
                                     "or ?access_token= in the address)", 401, {"WWW-Authenticate": "Bearer"}), "", ""
        if not authorized(self.options, identity.claims, {}):
            return PlainTextResponse("not allowed for this caller", 403), "", ""
        user = str(identity.claims.get("sub") or identity.client)
        cookie = self._cookie(user, identity.claims)
        if any(k in request.query_params for k in _CREDENTIALS):  # out of the address bar and the history
            rest = [(k, v) for k, v in request.query_params.multi_items() if k not in _CREDENTIALS]
            response = RedirectResponse(request.url.path + (f"?{urlencode(rest)}" if rest else ""), 303)
            response.headers.append("set-cookie", cookie)
            return response, user, ""
        return self._refuse_cross_site(scope), user, cookie

    def _cookie(self, user: str, claims: dict[str, Any]) -> str:
        expires = min(time.time() + SESSION, float(claims.get("exp") or time.time() + SESSION))
        value = f"{int(expires)}.{user.encode().hex()}"
        signature = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()
        return (f"{COOKIE}={value}.{signature}; Path={self.prefix}; Max-Age={max(0, int(expires - time.time()))}; "
                "HttpOnly; SameSite=Strict")

    def _session(self, cookie: str) -> str | None:
        """The user of a valid, unexpired session cookie; None otherwise."""
        value, _, signature = cookie.rpartition(".")
        expected = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()
        if not value or not hmac.compare_digest(signature, expected):
            return None
        expires, _, user = value.partition(".")
        try:
            return bytes.fromhex(user).decode() if float(expires) > time.time() else None
        except ValueError:
            return None


def _with_cookie(send: Send, cookie: str) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
        await send(message)
    return sending
