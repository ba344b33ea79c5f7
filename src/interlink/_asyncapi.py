"""An AsyncAPI 3.0 document of an App: channels, operations and message schemas from the handlers.

    doc = asyncapi_document(app, broker_url="nats://127.0.0.1:4222")   # a dict, JSON-ready

Layout (from the App's side):

* one channel per declared subject or pattern; ``*`` and ``>`` become the
  channel parameters ``{tokenN}`` and ``{rest}`` (``>`` stands for one or more tokens);
* a ``receive`` operation per handler; an endpoint whose return type is not
  ``None`` answers: its operation has a ``reply`` (the reply channel has a dynamic
  address: the requester's reply subject for a request, the ``il-reply-to``
  header for request/async response); a subscription whose return type is not
  ``None`` answers a gather: the reply goes to the ``il-inbox`` header's address;
* a ``send`` operation per ``publish=`` target of a handler;
* payload schemas from the body and return annotations (msgspec Struct,
  dataclass, TypedDict, builtins through ``msgspec.json.schema_components``;
  pydantic models through ``model_json_schema``), in ``components.schemas``;
  every message documents the envelope headers (``il-id``, ``il-cid``, ...);
* ``servers`` from the broker URL (without credentials), when one is given and
  it is not ``memory://``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, get_type_hints
from urllib.parse import urlsplit

import msgspec

from interlink._codec import _is_pydantic

if TYPE_CHECKING:
    from interlink._app import App
    from interlink._service import HandlerSpec, Service

_REF = "#/components/schemas/{name}"
PROTOCOLS = {"nats": "nats", "amqp": "amqp", "amqps": "amqps", "redis": "redis", "rediss": "redis"}
HEADERS = {
    "type": "object",
    "properties": {
        "il-id": {"type": "string", "description": "message id (32 hex digits)"},
        "il-cid": {"type": "string", "description": "correlation id"},
        "il-from": {"type": "string", "description": "the sending service"},
        "il-reply-to": {"type": "string", "description": "request/async response: the endpoint for the reply"},
        "il-inbox": {"type": "string", "description": "gather: the address for the replies"},
        "il-deadline": {"type": "string", "description": "absolute Unix time in seconds"},
        "traceparent": {"type": "string", "description": "W3C trace context"},
        "content-type": {"type": "string", "enum": ["application/json", "application/msgpack"]},
    },
}


class _Schemas:
    """Collects the components of every type, each once."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, tp: Any) -> dict[str, Any]:
        if tp is Any:
            return {}
        if _is_pydantic(tp):
            schema: dict[str, Any] = tp.model_json_schema(ref_template=_REF.replace("{name}", "{model}"))
            self.components.update(schema.pop("$defs", {}))
            name = tp.__name__
            self.components[name] = schema
            return {"$ref": _REF.format(name=name)}
        try:
            (schema,), components = msgspec.json.schema_components((tp,), ref_template=_REF)
        except TypeError:  # not a type msgspec knows: any JSON value
            return {}
        self.components.update(components)
        return schema


def _channel_id(subject: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]", "_", subject.replace("*", "star").replace(">", "rest"))
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def _address(pattern: str) -> tuple[str, dict[str, Any]]:
    tokens, parameters = [], {}
    for i, token in enumerate(pattern.split(".")):
        if token == "*":
            tokens.append(f"{{token{i}}}")
            parameters[f"token{i}"] = {"description": f"any one token at position {i}"}
        elif token == ">":
            tokens.append("{rest}")
            parameters["rest"] = {"description": "one or more trailing tokens"}
        else:
            tokens.append(token)
    return ".".join(tokens), parameters


def _returns(spec: HandlerSpec) -> Any:
    try:
        hints = get_type_hints(spec.func)
    except Exception:
        return Any
    result = hints.get("return", Any)
    return None if result is type(None) else result


class _Builder:
    def __init__(self, content_type: str) -> None:
        self.schemas = _Schemas()
        self.channels: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}
        self.messages: dict[str, Any] = {}
        self._ids: set[str] = set()  # channel ids
        self._op_ids: set[str] = set()
        self._by_address: dict[str, str] = {}
        self._content_type = content_type

    def channel(self, pattern: str, message: str, summary: str) -> str:
        key = self._by_address.get(pattern)
        if key is None:
            key = self._by_address[pattern] = _channel_id(pattern, self._ids)
            address, parameters = _address(pattern)
            self.channels[key] = {"address": address, "summary": summary, "messages": {}}
            if parameters:
                self.channels[key]["parameters"] = parameters
        self.channels[key]["messages"][message] = {"$ref": f"#/components/messages/{message}"}
        return key

    def message(self, name: str, tp: Any, title: str) -> str:
        self.messages[name] = {"name": name, "title": title, "contentType": self._content_type,
                               "headers": {"$ref": "#/components/schemas/Headers"}, "payload": self.schemas.of(tp)}
        return name

    def handler(self, service: Service, spec: HandlerSpec) -> None:
        kind = "request, notification or send" if spec.kind == "endpoint" else (
            "event (one copy per instance)" if spec.broadcast else "event (one copy per service)")
        body = self.message(f"{service.name}.{spec.func.__name__}.body".replace(".", "_"), spec.body_type,
                            getattr(spec.body_type, "__name__", "body"))
        channel = self.channel(spec.subject, body, f"{spec.kind} of {service.name}")
        op_id = _channel_id(f"{service.name}_{spec.func.__name__}", self._op_ids)
        operation: dict[str, Any] = {
            "action": "receive", "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"{service.name}: {spec.name} ({kind})",
            "messages": [{"$ref": f"#/channels/{channel}/messages/{body}"}],
        }
        returned = _returns(spec)
        if returned is not None:
            reply = self.message(f"{service.name}.{spec.func.__name__}.reply".replace(".", "_"), returned,
                                 getattr(returned, "__name__", "reply"))
            reply_channel = _channel_id(f"{channel}_reply", self._ids)
            where = "il-reply-to" if spec.kind == "endpoint" else "il-inbox"
            self.channels[reply_channel] = {
                "address": None, "messages": {reply: {"$ref": f"#/components/messages/{reply}"}},
                "description": "the reply subject of a request, or the address in the "
                               f"{where} header ({'request/async response' if where == 'il-reply-to' else 'gather'})",
            }
            operation["reply"] = {"channel": {"$ref": f"#/channels/{reply_channel}"},
                                  "messages": [{"$ref": f"#/channels/{reply_channel}/messages/{reply}"}]}
            if spec.kind == "subscription":
                operation["reply"]["address"] = {"location": "$message.header#/il-inbox"}
            if spec.publish is not None:
                target = self.channel(spec.publish, reply, f"published by {service.name}")
                self.operations[_channel_id(f"{op_id}_publish", self._op_ids)] = {
                    "action": "send", "channel": {"$ref": f"#/channels/{target}"},
                    "summary": f"{service.name} publishes what {spec.name} returns",
                    "messages": [{"$ref": f"#/channels/{target}/messages/{reply}"}],
                }
        self.operations[op_id] = operation


def _servers(broker_url: str | None) -> dict[str, Any]:
    if not broker_url:
        return {}
    servers: dict[str, Any] = {}
    for n, one in enumerate(broker_url.split(",")):
        parts = urlsplit(one.strip() if "://" in one else f"{urlsplit(broker_url).scheme}://{one.strip()}")
        protocol = PROTOCOLS.get(parts.scheme)
        if protocol is None or not parts.hostname:
            continue
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        servers[f"broker{n}" if n else "broker"] = {"host": host, "protocol": protocol,
                                                     **({"pathname": parts.path} if parts.path not in ("", "/")
                                                        else {})}
    return servers


def asyncapi_document(app: App, broker_url: str | None = None, *, version: str = "1.0.0",
                      content_type: str = "application/json") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ``app`` (see the module docstring)."""
    builder = _Builder(content_type)
    for service in app.services:
        for spec in service.handlers:
            builder.handler(service, spec)
    versions = ", ".join(f"{s.name} {s.version}" for s in app.services)
    doc: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {"title": app.name, "version": version, "description": f"Services: {versions}."},
        "defaultContentType": content_type,
    }
    servers = _servers(broker_url)
    if servers:
        doc["servers"] = servers
    doc["channels"] = builder.channels
    doc["operations"] = builder.operations
    doc["components"] = {"schemas": {"Headers": HEADERS, **builder.schemas.components},
                         "messages": builder.messages}
    return doc
