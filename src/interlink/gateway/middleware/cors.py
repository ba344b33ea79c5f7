"""CORS, by Starlette's middleware; a refused preflight answers with the gateway's short JSON error."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from interlink.gateway._config import Cors as CorsConfig
from interlink.gateway._http import error_response


class Cors(CORSMiddleware):
    def __init__(self, app: ASGIApp, config: CorsConfig) -> None:
        super().__init__(app, allow_origins=config.allow_origins, allow_methods=config.allow_methods,
                         allow_headers=config.allow_headers, allow_credentials=config.allow_credentials,
                         expose_headers=config.expose_headers, max_age=config.max_age)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 400:
            return error_response(400, "cors_refused", bytes(response.body).decode() or "CORS preflight refused",
                                  headers={k: v for k, v in response.headers.items() if k != "content-length"})
        return response
