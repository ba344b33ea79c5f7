"""The gateway's middleware: each one small ASGI class wrapping the next app.

Outermost first, as the gateway stacks them (``interlink.gateway._app.build_stack``):
ServerErrors, RequestId, AccessLog, Metrics, Cors, (the router), Tracing (when on), Limits, Authenticate,
RateLimit.
"""

from interlink.gateway.middleware.access_log import AccessLog
from interlink.gateway.middleware.auth import Authenticate, Authenticator
from interlink.gateway.middleware.cors import Cors
from interlink.gateway.middleware.errors import ServerErrors
from interlink.gateway.middleware.limits import Limits
from interlink.gateway.middleware.metrics import GatewayMetrics, Metrics
from interlink.gateway.middleware.rate_limit import RateLimiter
from interlink.gateway.middleware.request_id import RequestId

__all__ = [
    "AccessLog",
    "Authenticate",
    "Authenticator",
    "Cors",
    "GatewayMetrics",
    "Limits",
    "Metrics",
    "RateLimiter",
    "RequestId",
    "ServerErrors",
]
