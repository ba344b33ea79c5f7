"""Gateway configuration: the routes and edge settings, from YAML or from Python.

    config = load_config("gateway.yaml")                 # or load_config(text=..., data=...)
    config = GatewayConfig(routes=[Route(path="/echo/{x}", request="echo.get")])

Loading validates everything at once and raises :class:`ConfigError` naming the
place (``$.routes[2].path``) and the reason. Strings may use ``${VAR}`` or
``${VAR:-default}`` to take values (secrets, URLs) from the environment.
The format is documented with a full example in docs/gateway.md.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml
from starlette.routing import compile_path

from interlink._errors import InterlinkError, SubjectError
from interlink._resilience import Breaker
from interlink._subjects import check_internal, check_pattern, check_subject

KINDS = ("request", "notify", "publish", "send", "gather", "compose", "stream")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SOURCES = ("path", "query", "header", "body", "claims", "client", "parts")
BUILTIN_PATHS = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs")
#: Message headers only the gateway sets: a route may not fill them from what a client sends.
RESERVED_HEADERS = ("il-", "content-type", "traceparent")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_HEADER = re.compile(r"[a-z0-9-]+\Z")


class ConfigError(InterlinkError, ValueError):
    """The gateway configuration is invalid; the message says where and why."""


class _Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class Cors(_Strict):
    allow_origins: list[str] = []
    allow_methods: list[str] = msgspec.field(default_factory=lambda: list(METHODS))
    allow_headers: list[str] = msgspec.field(default_factory=lambda: [
        "authorization", "content-type", "x-api-key", "x-request-id", "idempotency-key"])
    expose_headers: list[str] = msgspec.field(default_factory=lambda: [
        "x-request-id", "location", "retry-after", "x-incomplete", "x-fallback",
        "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"])
    allow_credentials: bool = False
    max_age: int = 600


class Jwt(_Strict):
    """JWT bearer tokens. HS*: ``secret``. RS*/ES*: ``public_key`` (PEM), ``jwks`` or ``jwks_url``."""

    algorithms: list[str] = msgspec.field(default_factory=lambda: ["HS256"])
    secret: str | None = None
    public_key: str | None = None
    jwks: dict[str, Any] | None = None
    jwks_url: str | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway: float = 0.0

    def __post_init__(self) -> None:
        if not self.algorithms or any(a.lower() == "none" for a in self.algorithms):
            raise ConfigError("jwt.algorithms must list real algorithms ('none' is never accepted)")
        if not (self.secret or self.public_key or self.jwks or self.jwks_url):
            raise ConfigError("jwt needs a secret, a public_key, jwks or a jwks_url")


class ApiKey(_Strict):
    """One API key: the key itself or its SHA-256 (hex), the client it names, and its claims."""

    client: str
    key: str | None = None
    sha256: str | None = None
    claims: dict[str, Any] = {}

    def __post_init__(self) -> None:
        if (self.key is None) == (self.sha256 is None):
            raise ConfigError(f"api key of {self.client!r}: give exactly one of key or sha256")


class Auth(_Strict):
    jwt: Jwt | None = None
    api_keys: list[ApiKey] = []
    api_key_header: str = "x-api-key"
    #: claim -> message header; the service reads the caller's identity there, never a client's header.
    claims_to_headers: dict[str, str] = msgspec.field(default_factory=lambda: {"sub": "auth-sub"})
    default: Literal["required", "optional", "none"] = "required"

    def __post_init__(self) -> None:
        for header in self.claims_to_headers.values():
            _check_header(header, "claims_to_headers")


class RateLimit(_Strict):
    """Token bucket per client: ``rate`` requests per second on average, bursts of ``burst``."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ConfigError("rate_limit needs rate > 0 and burst >= 1")


class Limits(_Strict):
    max_body: int = 1024 * 1024
    max_headers: int = 16 * 1024
    body_timeout: float = 10.0
    max_streams: int = 1000
    max_replies: int = 10_000
    reply_ttl: float = 300.0
    heartbeat: float = 15.0

    def __post_init__(self) -> None:
        if min(self.max_body, self.max_headers, self.max_streams, self.max_replies) < 1:
            raise ConfigError("limits must be positive")
        if min(self.body_timeout, self.reply_ttl, self.heartbeat) <= 0:
            raise ConfigError("limits must be positive")


class Resilience(_Strict):
    """Defaults for every route's calls; a route may override each key."""

    retries: int = 2
    breaker: Breaker | None = Breaker()
    max_concurrent: int = 256

    def __post_init__(self) -> None:
        if self.retries < 1 or self.max_concurrent < 1:
            raise ConfigError("retries (attempts) and max_concurrent must be at least 1")


class Fallback(_Strict):
    """The answer of a route whose target is unavailable (not for typed errors)."""

    body: Any = None
    status: int = 200


class Part(_Strict):
    """One target of a compose route, under its own key (or merged)."""

    name: str
    request: str | None = None
    gather: str | None = None
    input: dict[str, Any] | None = None
    required: bool = True
    timeout: float | None = None
    within: float = 1.0
    fallback: Fallback | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"part name {self.name!r} must be an identifier")
        if (self.request is None) == (self.gather is None):
            raise ConfigError(f"part {self.name!r}: give exactly one of request or gather")
        check_subject(self.subject)

    @property
    def subject(self) -> str:
        return self.request or self.gather or ""


class Compose(_Strict):
    parts: list[Part]
    merge: bool = False  # False: each part under its own key; True: objects merged into one

    def __post_init__(self) -> None:
        names = [p.name for p in self.parts]
        if not names or len(set(names)) != len(names):
            raise ConfigError("compose needs parts with distinct names")


class Route(_Strict):
    """One HTTP route: a method and path, and a target in one of the interaction styles."""

    path: str
    method: str = "GET"
    name: str | None = None
    request: str | None = None
    notify: str | None = None
    publish: str | None = None
    send: str | None = None
    gather: str | None = None
    compose: Compose | None = None
    stream: str | None = None
    input: dict[str, Any] | None = None
    headers: dict[str, str] = {}
    body_type: Any = None  # "package.module:Type" in YAML; a type from Python
    body_schema: dict[str, Any] | None = None
    reply_type: Any = None
    auth: Literal["required", "optional", "none"] | None = None
    claims: dict[str, Any] = {}
    rate_limit: RateLimit | None = None
    max_body: int | None = None
    timeout: float | None = None
    idempotent: bool | None = None
    retries: int | None = None
    breaker: Breaker | None = None
    max_concurrent: int | None = None
    fallback: Fallback | None = None
    within: float = 1.0
    max_replies: int | None = None
    summary: str | None = None
    tags: list[str] = []

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if self.method not in METHODS:
            raise ConfigError(f"method {self.method!r} must be one of {', '.join(METHODS)}")
        if not self.path.startswith("/"):
            raise ConfigError(f"path {self.path!r} must start with '/'")
        kinds = [k for k in KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ConfigError(f"route {self.method} {self.path}: give exactly one of {', '.join(KINDS)}")
        if self.kind == "stream" and self.method != "GET":
            raise ConfigError("a stream route is a GET route")
        if self.name is None:
            self.name = f"{self.method.lower()}_{re.sub(r'[^A-Za-z0-9]+', '_', self.path).strip('_') or 'root'}"
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError("timeout must be positive")
        if self.body_type is not None and self.body_schema is not None:
            raise ConfigError("give body_type or body_schema, not both")
        self._check_target()
        self._check_mappings()

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    @property
    def path_params(self) -> list[str]:
        return list(compile_path(self.path)[2])

    @property
    def subject(self) -> str:
        """The target subject (a pattern template for streams; empty for compose)."""
        value = getattr(self, self.kind)
        return value if isinstance(value, str) else ""

    def _check_target(self) -> None:
        if self.kind == "stream":
            stream_pattern(self.subject, self.path_params)
        elif self.kind != "compose":
            check_subject(self.subject)

    def _check_mappings(self) -> None:
        params = self.path_params
        for claim, wanted in self.claims.items():
            for value in wanted if isinstance(wanted, list) else [wanted]:
                name = path_reference(value)
                if name is not None and name not in params:
                    raise ConfigError(f"claims.{claim}: {value!r} names no path parameter of {self.path}")
        parts = [p.name for p in self.compose.parts] if self.compose else []
        for field, source in (self.input or {}).items():
            check_source(source, params, [], f"input.{field}")
        for header, source in self.headers.items():
            _check_header(header, "headers")
            check_source(source, params, [], f"headers.{header}")
        for i, part in enumerate(self.compose.parts if self.compose else []):
            earlier = parts[:i]
            for field, source in (part.input or {}).items():
                check_source(source, params, earlier, f"parts.{part.name}.input.{field}")


def path_reference(value: Any) -> str | None:
    """``"{name}"`` in a route's ``claims`` stands for the path parameter ``name``: the caller must hold
    a claim equal to it (for example ``sub: "{passenger_id}"``: only that passenger)."""
    if isinstance(value, str) and len(value) > 2 and value[0] == "{" and value[-1] == "}":
        return value[1:-1]
    return None


class DashboardMount(_Strict):
    """Where the gateway serves the dashboard (behind its authentication) and what callers must hold."""

    path: str = "/dashboard"
    claims: dict[str, Any] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", self.path):
            raise ConfigError(f"dashboard.path {self.path!r} must be an absolute path without a trailing '/'")


class GatewayConfig(_Strict):
    """Everything the gateway serves."""

    routes: list[Route]
    title: str = "interlink gateway"
    version: str = "0.1.0"
    name: str = "gateway"
    timeout: float = 5.0
    replies_path: str = "/replies"
    auth: Auth | None = None
    rate_limit: RateLimit | None = None
    cors: Cors | None = None
    limits: Limits = msgspec.field(default_factory=Limits)
    resilience: Resilience = msgspec.field(default_factory=Resilience)
    docs: bool = True
    dashboard: DashboardMount | None = None

    def __post_init__(self) -> None:
        check_internal(f"interlink-gateway.{self.name}")
        if "." in self.name:
            raise ConfigError("name must be a single token")
        if self.timeout <= 0:
            raise ConfigError("timeout must be positive")
        seen: set[tuple[str, str]] = set()
        names: set[str] = set()
        reserved = (*BUILTIN_PATHS, self.replies_path, *([self.dashboard.path] if self.dashboard else []))
        if self.dashboard is not None and self.auth is None:
            raise ConfigError("dashboard: the gateway needs auth to serve it (never open to everyone)")
        identity_headers = set(self.auth.claims_to_headers.values()) if self.auth else set()
        for route in self.routes:
            if identity_headers & set(route.headers):  # only verified claims may fill these
                raise ConfigError(f"route {route.name}: headers {sorted(identity_headers & set(route.headers))} "
                                  "are set from the caller's claims")
            key = (route.method, route.path)
            if key in seen:
                raise ConfigError(f"route {route.method} {route.path} is declared twice")
            if route.name in names:
                raise ConfigError(f"route name {route.name!r} is used twice")
            if any(route.path == r or route.path.startswith(r + "/") for r in reserved):
                raise ConfigError(f"route path {route.path} is reserved by the gateway")
            seen.add(key)
            names.add(route.name or "")


def check_source(source: Any, params: list[str], parts: list[str], where: str) -> None:
    """A mapping value: a non-string literal, '=text', or SOURCE[.name] (see docs/gateway.md)."""
    if not isinstance(source, str) or source.startswith("="):
        return
    head, _, rest = source.partition(".")
    if head not in SOURCES:
        raise ConfigError(f"{where}: {source!r} must start with one of {', '.join(SOURCES)} (or '=' for text)")
    if head == "path" and rest not in params:
        raise ConfigError(f"{where}: the path has no parameter {rest!r}")
    if head in ("query", "header", "claims") and not rest:
        raise ConfigError(f"{where}: {head} needs a name, as in {head}.NAME")
    if head == "parts" and rest.partition(".")[0] not in parts:
        raise ConfigError(f"{where}: {source!r} must name an earlier part")


def stream_pattern(template: str, params: list[str]) -> str:
    """The pattern a stream route subscribes to: path parameters ``{x}`` become ``*``."""
    tokens = []
    for token in template.split("."):
        if token.startswith("{") and token.endswith("}"):
            if token[1:-1] not in params:
                raise ConfigError(f"stream {template!r}: the path has no parameter {token[1:-1]!r}")
            token = "*"
        tokens.append(token)
    return check_pattern(".".join(tokens))


def _check_header(name: str, where: str) -> None:
    if not _HEADER.match(name) or name.startswith(RESERVED_HEADERS):
        raise ConfigError(f"{where}: {name!r} must be a lower-case header name not reserved by interlink")


def _interpolate(value: Any) -> Any:
    if isinstance(value, str):
        def env(match: re.Match[str]) -> str:
            found = os.environ.get(match.group(1), match.group(2))
            if found is None:
                raise ConfigError(f"environment variable {match.group(1)} is not set (use ${{VAR:-default}})")
            return found
        return _ENV.sub(env, value)
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    return value


def load_config(path: str | Path | None = None, *, text: str | None = None, data: Any = None) -> GatewayConfig:
    """Read and validate a configuration from a YAML file, YAML text, or a plain dict."""
    where = str(path) if path is not None else "configuration"
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read {where}: {exc.strerror}") from None
    if text is not None:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{where} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping with a 'routes' list")
    try:
        return msgspec.convert(_interpolate(data), GatewayConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except SubjectError as exc:
        raise ConfigError(f"{where}: {exc}") from None
