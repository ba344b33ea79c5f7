"""Token-bucket rate limiting per client: 429 with ``Retry-After`` when a client's bucket is empty.

The client is the authenticated caller (``jwt:SUB``, ``key:CLIENT``), else the
peer address. Each bucket holds ``burst`` tokens and refills at ``rate`` per
second; a route with its own ``rate_limit`` has buckets of its own. Every answer
on a limited route carries ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset`` (seconds until the bucket is full). At most ``MAX_CLIENTS``
buckets are kept per limit (the least recently used go first), so memory stays bounded.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlink.gateway._config import RateLimit
from interlink.gateway._http import HTTPError, reject
from interlink.gateway._inputs import IDENTITY
from interlink.gateway._router import options_of

MAX_CLIENTS = 100_000


class TokenBuckets:
    """The buckets of one limit, by client key."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = limit.rate
        self.burst = limit.burst
        self._clock = clock
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # key -> [tokens, last refill]

    def take(self, key: str) -> tuple[bool, float]:
        """Take a token for ``key``: (allowed, tokens left)."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [float(self.burst), now]
            if len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket[0] = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
        if bucket[0] < 1.0:
            return False, bucket[0]
        bucket[0] -= 1.0
        return True, bucket[0]

    def headers(self, tokens: float) -> list[tuple[bytes, bytes]]:
        reset = math.ceil((self.burst - tokens) / self.rate)
        return [(b"ratelimit-limit", str(self.burst).encode()),
                (b"ratelimit-remaining", str(int(tokens)).encode()),
                (b"ratelimit-reset", str(reset).encode())]


class RateLimiter:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._limits: dict[tuple[str, int], TokenBuckets] = {}

    def buckets(self, route: str, limit: RateLimit) -> TokenBuckets:
        key = (route, id(limit))  # limits live as long as the configuration
        found = self._limits.get(key)
        if found is None:
            found = self._limits[key] = TokenBuckets(limit)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        options = options_of(scope)
        if options is None or options.rate_limit is None:
            await self.app(scope, receive, send)
            return
        identity = scope["state"].get(IDENTITY)
        client = identity.client if identity is not None else f"ip:{(scope.get('client') or ('-',))[0]}"
        # a route's own limit has buckets of its own; the gateway-wide one is shared by all routes
        buckets = self.buckets(options.name if options.own_rate_limit else "", options.rate_limit)
        allowed, tokens = buckets.take(client)
        extra = buckets.headers(tokens)
        if not allowed:
            wait = math.ceil((1.0 - tokens) / buckets.rate)
            error = HTTPError(429, "rate_limited", "too many requests; slow down",
                              headers={"Retry-After": str(max(wait, 1)), **{k.decode(): v.decode() for k, v in extra}})
            await reject(scope, receive, send, error)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, sending)
