"""The ``redis://`` / ``rediss://`` URL: redis-py's connection settings and interlink's own options.

``redis://[[user]:password@]host[:port][/db]``: a user and password log in with
``AUTH user password`` (an ACL user of Redis 6+); a password alone logs in as
``default``. ``rediss://`` is TLS; its files are redis-py's options
``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile`` (a client certificate),
``ssl_ca_path``, ``ssl_cert_reqs`` and ``ssl_check_hostname``. A ``tls=``
context takes the place of those files and makes the connection TLS whatever
the scheme. A file that cannot be read, a TLS option on ``redis://`` and an
option neither interlink nor redis-py knows are refused when the URL is parsed.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio.connection as rconn
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from interlink._errors import BrokerError

CONNECT_TIMEOUT = 3.0  # seconds to open a socket and authenticate
_TLS_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_ca_path")


@dataclass(frozen=True, slots=True)
class Options:
    """The URL, split into redis-py's connection settings and interlink's own query options.

    ``prefix`` (default ``il``) starts every key and channel; ``maxlen`` caps
    each stream (approximately, oldest trimmed first); ``retention`` is how many
    seconds a durable group outlives its last member; ``dead_maxlen`` caps the
    dead-letter stream. ``tls``: the caller's TLS context, if any.
    """

    url: str  # as given, password masked: safe to print
    connect: dict[str, Any]
    prefix: str = "il"
    maxlen: int = 100_000
    retention: float = 7 * 24 * 3600.0
    dead_maxlen: int = 100_000
    tls: ssl.SSLContext | None = None

    @classmethod
    def parse(cls, url: str, tls: ssl.SSLContext | None = None) -> Options:
        parts = urlsplit(url)
        ours: dict[str, str] = {}
        theirs: list[tuple[str, str]] = []
        for key, value in parse_qsl(parts.query):
            (ours.__setitem__(key, value) if key in _OURS else theirs.append((key, value)))
        redis_url = urlunsplit(parts._replace(query=urlencode(theirs)))
        masked = parts.netloc
        if parts.password:
            masked = masked.replace(f":{parts.password}@", ":***@", 1)
        safe = urlunsplit(parts._replace(netloc=masked, query=""))
        _check_tls_options(safe, parts.scheme, theirs)
        try:
            connect: dict[str, Any] = dict(rconn.parse_url(redis_url))
            options = cls(safe, connect, **{k: _OURS[k](v) for k, v in ours.items()}, tls=tls)
            options.connection(timeout=None)  # no I/O: an option redis-py does not take fails here
        except (ValueError, TypeError) as exc:
            raise BrokerError(f"{safe}: bad URL: {exc}") from None
        if not options.prefix.replace("-", "").replace("_", "").isalnum():
            raise BrokerError(f"{safe}: prefix must be letters, digits, '-' or '_'")
        if options.maxlen < 1 or options.retention <= 0 or options.dead_maxlen < 1:
            raise BrokerError(f"{safe}: maxlen, retention and dead_maxlen must be positive")
        return options

    def connection(self, *, timeout: float | None, name: str = "interlink") -> rconn.AbstractConnection:
        """A new, unconnected connection (RESP2, no client-side retries: interlink retries itself)."""
        kwargs = dict(self.connect)
        cls: type[rconn.AbstractConnection] = kwargs.pop("connection_class", rconn.Connection)
        kwargs.update(protocol=2, socket_timeout=timeout, socket_connect_timeout=CONNECT_TIMEOUT,
                      retry=Retry(NoBackoff(), 0), client_name=name, driver_info=None)
        if cls is not rconn.UnixDomainSocketConnection:
            kwargs.setdefault("socket_keepalive", True)
        if self.tls is not None and cls is not rconn.UnixDomainSocketConnection:
            for key in [k for k in kwargs if k.startswith("ssl_")]:
                del kwargs[key]
            return ContextTLSConnection(self.tls, **kwargs)
        return cls(**kwargs)


class ContextTLSConnection(rconn.Connection):
    """A TLS connection with the caller's ``ssl.SSLContext`` (redis-py builds its own from file names only)."""

    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        self._context = context
        super().__init__(**kwargs)

    def _connection_arguments(self) -> Mapping[str, Any]:
        return {**super()._connection_arguments(), "ssl": self._context}


def _check_tls_options(shown: str, scheme: str, options: list[tuple[str, str]]) -> None:
    for key, value in options:
        if key.startswith("ssl_") and scheme != "rediss":
            raise BrokerError(f"{shown}: {key}= is a TLS option: use rediss://")
        if key in _TLS_FILES and not os.access(value, os.R_OK):
            raise BrokerError(f"{shown}: {key}={value!r} cannot be read")


_OURS: dict[str, Any] = {"prefix": str, "maxlen": int, "retention": float, "dead_maxlen": int}
