"""The gateway's middleware: each one small ASGI class wrapping the next app.

Outermost first, as the gateway stacks them (``interlink.gateway._app.build_stack``):
Edge (request ids, metrics, access log, the last-resort 500), Cors, (the router), Tracing (when on),
Limits, Authenticate, RateLimit.
"""

from interlink.gateway.middleware.auth import Authenticate, Authenticator
from interlink.gateway.middleware.cors import Cors
from interlink.gateway.middleware.edge import Edge
from interlink.gateway.middleware.limits import Limits
from interlink.gateway.middleware.metrics import GatewayMetrics
from interlink.gateway.middleware.rate_limit import RateLimiter

__all__ = [
    "Authenticate",
    "Authenticator",
    "Cors",
    "Edge",
    "GatewayMetrics",
    "Limits",
    "RateLimiter",
]
