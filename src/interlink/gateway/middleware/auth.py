"""Authentication (JWT bearer tokens, API keys) and per-route authorization by claims.

Credentials: ``Authorization: Bearer JWT``, or the API key header (``X-API-Key``);
stream routes also take ``?access_token=`` (browsers cannot set headers on
EventSource and WebSocket). Tokens are checked by PyJWT: the signature with the
configured key (HS* secret; RS*/ES* public key, JWKS, or JWKS URL), ``exp``
required, ``iss``/``aud`` when configured; ``alg: none`` is never accepted.

Bad credentials: 401, on every route that uses auth. No credentials: 401 where
the route's auth is ``required``. Claims the route asks for and the caller lacks:
403. The caller's claims reach the service in the headers of ``claims_to_headers``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from typing import Any

import jwt
import msgspec
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from interlink.gateway._config import Auth as AuthConfig
from interlink.gateway._config import Jwt, path_reference
from interlink.gateway._http import HTTPError, reject
from interlink.gateway._inputs import IDENTITY, Identity
from interlink.gateway._router import Options, options_of

_HMAC = ("HS256", "HS384", "HS512")


class Authenticator:
    """Turns credentials into an :class:`Identity`, or raises HTTPError 401."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self.jwt = config.jwt
        self.api_key_header = config.api_key_header.lower()
        self.keys = {(k.sha256 or hashlib.sha256((k.key or "").encode()).hexdigest()).lower(): k
                     for k in config.api_keys}
        self._jwks: jwt.PyJWKSet | None = None
        self._jwks_client: jwt.PyJWKClient | None = None
        if self.jwt is not None and self.jwt.jwks is not None:
            self._jwks = jwt.PyJWKSet.from_dict(self.jwt.jwks)
        if self.jwt is not None and self.jwt.jwks_url:
            self._jwks_client = jwt.PyJWKClient(self.jwt.jwks_url, cache_keys=True, lifespan=300)

    async def identify(self, headers: Headers, query: QueryParams | None) -> Identity | None:
        """The caller's identity; None when no credentials were given."""
        bearer = headers.get("authorization", "")
        scheme, _, token = bearer.partition(" ")
        if bearer and scheme.lower() == "bearer" and token.strip():
            return await self._from_token(token.strip())
        if bearer:
            raise _unauthorized("use Authorization: Bearer TOKEN")
        key = headers.get(self.api_key_header)
        if key is None and query is not None:
            key = query.get("api_key")
            token = query.get("access_token", "")
            if token:
                return await self._from_token(token)
        if key is not None:
            return self._from_key(key)
        return None

    def _from_key(self, key: str) -> Identity:
        found = self.keys.get(hashlib.sha256(key.encode()).hexdigest())
        if found is None:
            raise _unauthorized("unknown API key")
        claims = {"sub": found.client, **found.claims}
        return Identity(f"key:{found.client}", claims, self._headers(claims), authenticated=True)

    async def _from_token(self, token: str) -> Identity:
        cfg = self.jwt
        if cfg is None:
            raise _unauthorized("tokens are not accepted here")
        try:
            alg = jwt.get_unverified_header(token).get("alg")
            if alg not in cfg.algorithms:  # "none" is never among them (checked in the config)
                raise _unauthorized("token algorithm not accepted")
            key = await self._key(cfg, str(alg), token)
            claims = jwt.decode(token, key, algorithms=[str(alg)], audience=cfg.audience, issuer=cfg.issuer,
                                leeway=cfg.leeway, options={"require": ["exp"]})
        except jwt.ExpiredSignatureError:
            raise _unauthorized("the token has expired") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise _unauthorized("the token is invalid") from None
        subject = str(claims.get("sub", ""))
        return Identity(f"jwt:{subject}", claims, self._headers(claims), authenticated=True)

    async def _key(self, cfg: Jwt, alg: str, token: str) -> Any:
        if alg in _HMAC:
            if not cfg.secret:
                raise _unauthorized("token algorithm not accepted")
            return cfg.secret
        if self._jwks is not None:
            kid = jwt.get_unverified_header(token).get("kid")
            for jwk in self._jwks.keys:
                if kid is None or jwk.key_id == kid:
                    return jwk.key
            raise _unauthorized("unknown signing key")
        if self._jwks_client is not None:  # cached; a fetch is blocking I/O, so it runs in a thread
            return (await asyncio.to_thread(self._jwks_client.get_signing_key_from_jwt, token)).key
        if cfg.public_key:
            return cfg.public_key
        raise _unauthorized("token algorithm not accepted")

    def _headers(self, claims: dict[str, Any]) -> dict[str, str]:
        out = {}
        for claim, header in self.config.claims_to_headers.items():
            if claim in claims:
                value = claims[claim]
                out[header] = value if isinstance(value, str) else msgspec.json.encode(value).decode()
        return out


def _unauthorized(message: str) -> HTTPError:
    return HTTPError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def authorized(options: Options, claims: dict[str, Any], path: Mapping[str, Any]) -> bool:
    """True if ``claims`` carry every claim the route asks for (a list asks for any one of its values;
    ``"{name}"`` asks for the value of the path parameter ``name``)."""
    for name, wanted in options.claims.items():
        have = claims.get(name)
        have_set = set(have.split()) if name in ("scope", "scp") and isinstance(have, str) else (
            set(map(str, have)) if isinstance(have, list) else {str(have)} if have is not None else set())
        wanted_set = {_wanted(value, path) for value in (wanted if isinstance(wanted, list) else [wanted])}
        if not have_set & wanted_set:
            return False
    return True


def _wanted(value: Any, path: Mapping[str, Any]) -> str:
    param = path_reference(value)
    return str(value) if param is None else str(path.get(param, "\x00"))  # \x00: matches no claim


class Authenticate:
    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        options = options_of(scope)
        if options is None or options.auth == "none":
            await self.app(scope, receive, send)
            return
        try:
            query = QueryParams(scope["query_string"]) if options.query_token else None
            identity = await self.authenticator.identify(Headers(scope=scope), query)
            if identity is None and (options.auth == "required" or options.claims):
                raise _unauthorized("credentials required")
            if options.claims and not authorized(options, identity.claims if identity else {},
                                                 scope.get("path_params", {})):
                raise HTTPError(403, "forbidden", "not allowed for this caller")
        except HTTPError as exc:
            await reject(scope, receive, send, exc)
            return
        if identity is not None:
            scope["state"][IDENTITY] = identity
        await self.app(scope, receive, send)
