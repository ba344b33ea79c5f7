"""From an HTTP request to a message: the body and headers a route sends, validated first.

A route's ``input`` maps message fields to sources (``path.X``, ``query.X``,
``header.X``, ``body`` or ``body.X``, ``claims.X``, ``client``, ``parts.P.X`` in a
compose, a non-string literal, or ``=text``). Without ``input`` the message body is
the JSON body object with the query and path parameters added. The body is then
checked against the route's type or JSON schema: 422 with the field errors.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request

from interlink import _headers as h
from interlink.gateway._config import ConfigError, Route
from interlink.gateway._http import HTTPError

MISSING: Any = msgspec.UNSET
_decode_json = msgspec.json.Decoder().decode
_BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
#: State keys the middleware leave in ``scope["state"]`` for the routes.
REQUEST_ID, TRACEPARENT, IDENTITY = "request_id", "traceparent", "identity"
_EMPTY: Any = {}  # shared, never written to


@dataclass(slots=True)
class Identity:
    """Who is calling: the client key, verified claims, and the message headers they become."""

    client: str
    claims: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    authenticated: bool = False


class Sources:
    """Everything a mapping may read from, for one request.

    The query, the headers and the caller are looked at only when a mapping or the
    default body needs them: most routes read the path alone, and parsing the rest
    for every request was a good part of the gateway's own time.
    """

    __slots__ = ("_headers", "_identity", "_query", "body", "parts", "path", "request")

    def __init__(self, request: Request, body: Any) -> None:
        self.request = request
        self.path: Mapping[str, Any] = request.scope.get("path_params", _EMPTY)
        self.body = body
        self.parts: dict[str, Any] = {}
        self._query: Mapping[str, str] | None = None
        self._headers: Mapping[str, str] | None = None
        self._identity: Identity | None = request.scope.get("state", _EMPTY).get(IDENTITY)

    @classmethod
    async def of(cls, request: Request, read_body: bool) -> Sources:
        return cls(request, await _json_body(request) if read_body else MISSING)

    @property
    def query(self) -> Mapping[str, str]:
        if self._query is None:
            self._query = self.request.query_params if self.request.scope.get("query_string") else _EMPTY
        return self._query

    @property
    def headers(self) -> Mapping[str, str]:
        if self._headers is None:
            self._headers = self.request.headers
        return self._headers

    @property
    def identity(self) -> Identity:
        """The caller the auth middleware found; without auth, the peer address."""
        if self._identity is None:
            self._identity = Identity(_client_ip(self.request))
        return self._identity

    @property
    def identity_headers(self) -> dict[str, str]:
        """The headers the caller's verified claims become (none without auth)."""
        return self._identity.headers if self._identity is not None else _EMPTY

    def get(self, source: Any) -> Any:
        if not isinstance(source, str):
            return source
        if source.startswith("="):
            return source[1:]
        head, _, rest = source.partition(".")
        if head == "client":
            return self.identity.client
        if head == "body":
            return _dig(self.body, rest)
        top, _, inner = rest.partition(".")
        found: Any = {"path": self.path, "query": self.query, "header": self.headers,
                      "claims": self.identity.claims, "parts": self.parts}[head].get(top, MISSING)
        return _dig(found, inner)


def _dig(value: Any, path: str) -> Any:
    for key in path.split(".") if path else ():
        value = value.get(key, MISSING) if isinstance(value, dict) else MISSING
    return value


def _client_ip(request: Request) -> str:
    return f"ip:{request.client.host}" if request.client else "ip:unknown"


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return MISSING
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/json" and not (kind.startswith("application/") and kind.endswith("+json")):
        raise HTTPError(415, "unsupported_media_type", "send the body as application/json")
    try:
        return _decode_json(raw)
    except msgspec.DecodeError:
        raise HTTPError(400, "malformed_json", "the body is not valid JSON") from None
    except RecursionError:
        raise HTTPError(400, "malformed_json", "the body is nested deeper than the gateway decodes") from None


class Inputs:
    """How one route (or compose part) builds the message it sends."""

    def __init__(self, route: Route, mapping: dict[str, Any] | None, body_type: Any = None,
                 body_schema: dict[str, Any] | None = None) -> None:
        self.route = route
        self.mapping = mapping
        self.body_type = resolve_type(body_type)
        self.schema = body_schema
        self.validate = _validator(self.body_type, body_schema)
        self.reads_body = route.method in _BODY_METHODS or _mentions_body(route)

    def body(self, src: Sources) -> Any:
        return self.validate(_mapped(self.mapping, src) if self.mapping is not None else _default(src))

    def headers(self, src: Sources, request: Request, *, idempotent_id: bool = False) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, source in self.route.headers.items():
            value = src.get(source)
            if value is not MISSING and value is not None:
                headers[name] = str(value)
        headers.update(src.identity_headers)  # after the route's own: a client cannot set these
        state = request.scope.get("state", _EMPTY)
        if REQUEST_ID in state:
            headers[h.CORRELATION_ID] = state[REQUEST_ID]
            headers[h.TRACEPARENT] = state[TRACEPARENT]
        if idempotent_id:
            key = request.headers.get("idempotency-key")
            if key:  # the same key from the same client is the same message
                headers[h.MESSAGE_ID] = hashlib.sha256(f"{src.identity.client}\0{key}".encode()).hexdigest()[:32]
        return headers


def _mentions_body(route: Route) -> bool:
    sources = [*(route.input or {}).values(), *route.headers.values()]
    return any(isinstance(s, str) and s.partition(".")[0] == "body" for s in sources)


def _mapped(mapping: dict[str, Any], src: Sources) -> Any:
    out: dict[str, Any] = {}
    for name, source in mapping.items():
        value = src.get(source)
        if name == "*":  # merge an object
            if isinstance(value, dict):
                out.update(value)
            elif value is not MISSING:
                raise HTTPError(422, "invalid", "the body must be a JSON object")
        elif value is not MISSING:
            out[name] = value
    return out


def _default(src: Sources) -> Any:
    extra = {**src.query, **src.path} if src.query else dict(src.path)
    if src.body is MISSING:
        return extra or None
    if not extra:
        return src.body
    if not isinstance(src.body, dict):
        raise HTTPError(422, "invalid", "the body must be a JSON object")
    return {**src.body, **extra}


def resolve_type(body_type: Any) -> Any:
    """A type given as "package.module:Name" (YAML) or as the type itself (Python)."""
    if not isinstance(body_type, str):
        return body_type
    module, _, name = body_type.partition(":")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"cannot import body type {body_type!r}: {exc}") from None
    return found


def _validator(body_type: Any, schema: dict[str, Any] | None) -> Any:
    if schema is not None:
        return _schema_validator(schema)
    if body_type is None or body_type is Any:
        return lambda value: value
    if hasattr(body_type, "model_validate") and hasattr(body_type, "model_fields"):
        return _pydantic_validator(body_type)
    fields = field_names(body_type)

    def validate(value: Any) -> Any:
        if fields is not None and isinstance(value, dict):
            unknown = sorted(k for k in value if k not in fields)
            if unknown:
                raise _invalid([{"field": f"$.{k}", "message": "unknown field"} for k in unknown[:20]])
        try:
            return msgspec.convert(value, body_type, strict=False)
        except msgspec.ValidationError as exc:
            message, _, where = str(exc).rpartition(" - at ")
            raise _invalid([{"field": where.strip("`") if message else "$",
                             "message": message or str(exc)}]) from None
    return validate


def field_names(tp: Any) -> frozenset[str] | None:
    """The field names an object type accepts (None: not an object type, or open)."""
    try:
        info = msgspec.inspect.type_info(tp)
    except (TypeError, ValueError):
        return None
    fields = getattr(info, "fields", None)
    if fields is None or not isinstance(info, msgspec.inspect.StructType | msgspec.inspect.DataclassType
                                         | msgspec.inspect.TypedDictType):
        return None
    return frozenset(f.encode_name for f in fields)


def _pydantic_validator(model: Any) -> Any:
    def validate(value: Any) -> Any:
        try:
            return model.model_validate(value)
        except ValueError as exc:
            errors: list[dict[str, Any]] = getattr(exc, "errors", list)()
            raise _invalid([{"field": "$" + "".join(f".{p}" if isinstance(p, str) else f"[{p}]"
                                                    for p in e.get("loc", ())),
                             "message": e.get("msg", "invalid")} for e in errors[:20]]) from None
    return validate


def _schema_validator(schema: dict[str, Any]) -> Any:
    try:  # imported by name: an optional dependency without type stubs
        jsonschema: Any = importlib.import_module("jsonschema")
    except ImportError:
        raise ConfigError("body_schema needs the jsonschema package (pip install interlink[gateway])") from None
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigError(f"body_schema is not a valid JSON schema: {exc.message}") from None
    checker = jsonschema.Draft202012Validator(schema)

    def validate(value: Any) -> Any:
        errors = sorted(checker.iter_errors(None if value is MISSING else value), key=lambda e: e.json_path)
        if errors:
            raise _invalid([{"field": e.json_path, "message": e.message[:200]} for e in errors[:20]])
        return value
    return validate


def _invalid(details: list[dict[str, str]]) -> HTTPError:
    return HTTPError(422, "invalid", "the request is invalid", details)
