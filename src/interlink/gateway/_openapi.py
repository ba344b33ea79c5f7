"""OpenAPI 3.1 from the routes and the message types (JSON Schema by msgspec), and the docs page."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from interlink.gateway._config import GatewayConfig, Route
from interlink.gateway._inputs import Inputs, field_names

REF = "#/components/schemas/{name}"
_PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?}")
_CONVERTOR_SCHEMA = {"int": {"type": "integer", "minimum": 0}, "float": {"type": "number"},
                     "uuid": {"type": "string", "format": "uuid"}}
_ERROR = {"type": "object", "required": ["error", "message"],
          "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "details": {}}}
_ACCEPTED = {"type": "object", "properties": {"id": {"type": "string"}, "status": {"type": "string"}}}
_ERRORS = {"400": "Malformed request", "404": "Not found", "413": "Body too large",
           "415": "Unsupported media type", "422": "Invalid request", "503": "Service unavailable",
           "504": "Service timeout"}


class _Schemas:
    """Collects the JSON schemas of message types into ``components.schemas``."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Error": _ERROR}

    def of(self, tp: Any) -> dict[str, Any]:
        if tp is None or tp is Any:
            return {}
        if hasattr(tp, "model_json_schema"):  # pydantic
            schema: dict[str, Any] = tp.model_json_schema(ref_template=REF.replace("{name}", "{model}"))
            self.components.update(schema.pop("$defs", {}))
            return schema
        try:
            (schema,), components = msgspec.json.schema_components([tp], ref_template=REF)
        except (TypeError, ValueError):
            return {}
        self.components.update(components)
        return schema


def openapi(config: GatewayConfig, routes: list[tuple[Route, Inputs, Any]]) -> dict[str, Any]:
    """The OpenAPI document; ``routes``: (route, its inputs, its reply type)."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route, inputs, reply_type in routes:
        path = _PARAM.sub(r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route, inputs, reply_type, schemas, config)
    _builtin(paths, config)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": config.title, "version": config.version},
        "paths": paths,
        "components": {"schemas": schemas.components},
    }
    if config.auth is not None:
        doc["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "apiKey": {"type": "apiKey", "in": "header", "name": config.auth.api_key_header},
        }
    return doc


def _operation(route: Route, inputs: Inputs, reply_type: Any, schemas: _Schemas,
               config: GatewayConfig) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": route.name, "parameters": _parameters(route, inputs, schemas)}
    if route.summary:
        op["summary"] = route.summary
    if route.tags:
        op["tags"] = route.tags
    if route.method in ("POST", "PUT", "PATCH") and route.kind != "stream":
        body = route.body_schema if route.body_schema is not None else schemas.of(inputs.body_type)
        op["requestBody"] = {"required": inputs.body_type is not None or route.body_schema is not None,
                             "content": {"application/json": {"schema": body}}}
    op["responses"] = {**_success(route, reply_type, schemas), **_errors(route, config)}
    auth = route.auth or (config.auth.default if config.auth else "none")
    if auth != "none":
        op["security"] = [{"bearer": []}, {"apiKey": []}] + ([{}] if auth == "optional" else [])
    return op


def _parameters(route: Route, inputs: Inputs, schemas: _Schemas) -> list[dict[str, Any]]:
    params = [{"name": name, "in": "path", "required": True,
               "schema": _CONVERTOR_SCHEMA.get(kind or "", {"type": "string"})}
              for name, kind in _PARAM.findall(route.path)]
    names = {p["name"] for p in params}
    sources = [*(route.input or {}).values(), *route.headers.values()]
    for part in route.compose.parts if route.compose else ():
        sources.extend((part.input or {}).values())
    for source in sources:
        if isinstance(source, str) and source.startswith(("query.", "header.")):
            where, _, name = source.partition(".")
            where = "query" if where == "query" else "header"
            if (where, name) not in {(p["in"], p["name"]) for p in params}:
                params.append({"name": name, "in": where, "required": False, "schema": {"type": "string"}})
    if route.input is None and route.method in ("GET", "DELETE"):  # the body's fields come from the query
        params.extend(_query_fields(inputs, names, schemas))
    return params


def _query_fields(inputs: Inputs, taken: set[str], schemas: _Schemas) -> list[dict[str, Any]]:
    fields = field_names(inputs.body_type) if inputs.body_type is not None else None
    if not fields:
        return []
    info = msgspec.inspect.type_info(inputs.body_type)
    out = []
    for f in getattr(info, "fields", ()):
        if f.encode_name in taken:
            continue
        kind = type(f.type).__name__
        schema = {"IntType": {"type": "integer"}, "FloatType": {"type": "number"},
                  "BoolType": {"type": "boolean"}}.get(kind, {"type": "string"})
        out.append({"name": f.encode_name, "in": "query", "required": f.required, "schema": schema})
    return out


def _success(route: Route, reply_type: Any, schemas: _Schemas) -> dict[str, Any]:
    kind = route.kind
    if kind in ("notify", "publish"):
        return {"202": {"description": "Accepted", "content": {"application/json": {"schema": _ACCEPTED}}}}
    if kind == "send":
        return {"202": {"description": "Accepted: the reply will be at Location",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": {"application/json": {"schema": _ACCEPTED}}}}
    if kind == "stream":
        return {"200": {"description": "Server-sent events (or a WebSocket on the same path)",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}}}}
    if kind == "gather":
        item = {"type": "object", "properties": {"service": {"type": "string"}, "body": schemas.of(reply_type)}}
        schema: dict[str, Any] = {"type": "array", "items": item}
    elif kind == "compose" and route.compose is not None:
        schema = {"type": "object", "properties": {p.name: {} for p in route.compose.parts}}
    else:
        schema = schemas.of(reply_type)
    return {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}}


def _errors(route: Route, config: GatewayConfig) -> dict[str, Any]:
    codes = dict(_ERRORS)
    auth = route.auth or (config.auth.default if config.auth else "none")
    if auth != "none":
        codes["401"] = "Unauthorized"
    if route.claims:
        codes["403"] = "Forbidden"
    if route.rate_limit or config.rate_limit:
        codes["429"] = "Too many requests"
    if route.kind in ("request", "compose"):
        codes.update({"409": "Conflict", "502": "Bad gateway"})
    ref = {"application/json": {"schema": {"$ref": REF.format(name="Error")}}}
    return {code: {"description": text, "content": ref} for code, text in sorted(codes.items())}


def _builtin(paths: dict[str, dict[str, Any]], config: GatewayConfig) -> None:
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}
    paths["/healthz"] = {"get": {"operationId": "healthz", "summary": "The process is up", "responses": ok}}
    paths["/readyz"] = {"get": {"operationId": "readyz", "summary": "The broker answers and targets are served",
                                "responses": {**ok, "503": {"description": "Not ready"}}}}
    reply = config.replies_path.rstrip("/") + "/{id}"
    paths[reply] = {"get": {
        "operationId": "reply", "summary": "The reply of a send route",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                       {"name": "wait", "in": "query", "required": False,
                        "schema": {"type": "number", "minimum": 0, "maximum": 30}}],
        "responses": {**ok, "202": {"description": "Not there yet"},
                      "404": {"description": "Unknown or expired"}}}}


# Swagger UI's files are served by the gateway itself (shipped in the package): /docs needs no internet.
DOCS_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "/openapi.json", dom_id: "#ui"}});</script>
</body></html>
"""
