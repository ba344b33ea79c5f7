"""The API gateway: HTTP in front of the services, in every interaction style.

    from interlink.gateway import Gateway, load_config, serve

    await serve("gateway.yaml", "nats://127.0.0.1:4222", port=8000)   # until SIGINT/SIGTERM

    # or, with a bus of your own, as an ASGI app:
    gateway = await Gateway(load_config("gateway.yaml"), bus).start()

Routes map HTTP requests to request, notify, publish, send, gather, compose and
stream targets; the edge concerns (auth, rate limits, size limits, CORS, request
ids, access log, metrics) are middleware. See docs/gateway.md for the YAML format.
"""

from interlink.gateway._app import Gateway
from interlink.gateway._config import (
    ApiKey,
    Auth,
    Compose,
    ConfigError,
    Cors,
    Fallback,
    GatewayConfig,
    Jwt,
    Limits,
    Part,
    RateLimit,
    Resilience,
    Route,
    load_config,
)
from interlink.gateway._serve import HttpServer, main, serve, server_config

__all__ = [
    "ApiKey",
    "Auth",
    "Compose",
    "ConfigError",
    "Cors",
    "Fallback",
    "Gateway",
    "GatewayConfig",
    "HttpServer",
    "Jwt",
    "Limits",
    "Part",
    "RateLimit",
    "Resilience",
    "Route",
    "load_config",
    "main",
    "serve",
    "server_config",
]
