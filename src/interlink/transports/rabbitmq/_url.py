"""The ``amqp://`` / ``amqps://`` URL: hosts, interlink's options, the client's options, TLS files.

Several hosts of one cluster go in the authority, comma-separated, sharing the
user, virtual host and options (ports default to 5672, or 5671 for ``amqps``)::

    amqp://user:pass@h1:5672,h2:5673,[::1]:5674/vhost?heartbeat=10

They are tried in the order given when connecting and, after a lost connection,
from the one after the host that was lost, round the list. Several hosts mean a
cluster: durable queues are then quorum queues unless ``?queue_type=classic``
(one host behind a load balancer: say ``?queue_type=quorum``).

interlink's options (removed before the URL reaches aio-pika): ``prefix`` (``il``),
``queue_type`` (``classic`` or ``quorum``), ``expires`` (seconds a durable
``ep``/``sub`` queue may go unused before the broker deletes it with its messages;
default 7 days, 0 = never), ``dead_expires`` (the same for the dead-letter queue;
default 0 = never), ``window`` (unconfirmed durable publishes in flight per
connection; default 512), ``connect_timeout`` (seconds, 5). The client's own that
pass through: ``heartbeat``, ``timeout``, ``name``, ``reconnect_interval`` (1 second
here, 5 in aio-pika), ``auth`` (``plain`` or ``external``: log in by the client
certificate), and, with ``amqps`` only, the TLS files ``cafile``, ``capath``,
``certfile``, ``keyfile`` and ``no_verify_ssl=1``. Any other option is an error.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from interlink._errors import BrokerError

_PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,32}")
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(?::(\d{1,5}))?")
_OURS = ("prefix", "queue_type", "expires", "dead_expires", "window", "connect_timeout")
_TLS_FILES = ("cafile", "capath", "certfile", "keyfile")
_CLIENT = ("heartbeat", "timeout", "name", "reconnect_interval", "auth", "no_verify_ssl", "cadata", *_TLS_FILES)


@dataclass(frozen=True, slots=True)
class Options:
    urls: tuple[str, ...]  # what aio-pika gets, one per host, in the order to try them
    shown: str  # for messages: no password, no options
    vhost: str
    prefix: str = "il"
    queue_type: str = "classic"
    expires: float = 7 * 86_400.0
    dead_expires: float = 0.0
    window: int = 512
    connect_timeout: float = 5.0

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def cluster(self) -> bool:
        return len(self.urls) > 1


def parse_url(url: str) -> Options:
    """Split hosts and interlink options off an ``amqp://`` URL; a BrokerError names what is wrong
    (as on the other brokers: a URL the transport cannot use, raised before any connection)."""
    try:
        return _parse(url)
    except ValueError as exc:
        raise BrokerError(str(exc)) from None


def _parse(url: str) -> Options:
    parts = urlsplit(url)
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    default_port = 5671 if parts.scheme == "amqps" else 5672
    hosts = [_host(url, entry, default_port) for entry in hostlist.split(",")]
    user = f"{unquote(userinfo.partition(':')[0])}@" if userinfo else ""
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    shown = f"{parts.scheme}://{user}{','.join(hosts)}/{quote_vhost(vhost)}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in _OURS}
    rest = [(k, v) for k, v in query if k not in _OURS]
    _check_client_options(shown, parts.scheme, rest)
    if not any(k == "reconnect_interval" for k, _ in rest):
        rest.append(("reconnect_interval", "1"))  # aio-pika waits 5 s before reconnecting by default
    options = _our_options(shown, ours)
    options.setdefault("queue_type", "quorum" if len(hosts) > 1 else "classic")
    credentials = f"{userinfo}@" if userinfo else ""
    urls = tuple(urlunsplit((parts.scheme, credentials + host, parts.path, urlencode(rest), ""))
                 for host in hosts)
    return Options(urls, shown, vhost, **options)


def _host(url: str, entry: str, default_port: int) -> str:
    match = _HOST.fullmatch(entry.strip())
    if match is None or not match.group(1).strip():
        raise ValueError(f"{_masked(url)}: bad host {entry!r}: use host, host:port or [ipv6]:port, comma-separated")
    port = int(match.group(2) or default_port)
    if not 0 < port < 65536:
        raise ValueError(f"{_masked(url)}: bad port in {entry!r}")
    return f"{match.group(1)}:{port}"


def _masked(url: str) -> str:
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return f"{parts.scheme}://{user}{at}{hosts}{parts.path}"


def _check_client_options(shown: str, scheme: str, options: list[tuple[str, str]]) -> None:
    for key, value in options:
        if key not in _CLIENT:
            known = ", ".join(sorted((*_OURS, *_CLIENT)))
            raise ValueError(f"{shown}: unknown URL option {key!r} (known: {known})")
        if key in (*_TLS_FILES, "no_verify_ssl", "cadata") and scheme != "amqps":
            raise ValueError(f"{shown}: {key}= is a TLS option: use amqps://")
        if key in _TLS_FILES and not os.access(value, os.R_OK):
            raise ValueError(f"{shown}: {key}={value!r} cannot be read")
        if key == "auth" and value.lower() not in ("plain", "external"):
            raise ValueError(f"{shown}: auth={value!r}: use plain or external")


def _our_options(shown: str, ours: dict[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "prefix" in ours:
        prefix = ours["prefix"]
        if not _PREFIX.fullmatch(prefix) or prefix.startswith("amq."):
            raise ValueError(f"{shown}: prefix={prefix!r} must be 1-32 of [A-Za-z0-9_.:-], not starting 'amq.'")
        options["prefix"] = prefix
    if "queue_type" in ours:
        if ours["queue_type"] not in ("classic", "quorum"):
            raise ValueError(f"{shown}: queue_type={ours['queue_type']!r}: use classic or quorum")
        options["queue_type"] = ours["queue_type"]
    for name in ("expires", "dead_expires", "connect_timeout"):
        if name in ours:
            options[name] = _number(shown, name, ours[name])
    if "window" in ours:
        options["window"] = max(1, int(_number(shown, "window", ours["window"])))
    return options


def quote_vhost(vhost: str) -> str:
    return "" if vhost == "/" else vhost


def _number(shown: str, name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{shown}: {name}={value!r} must be a number >= 0")
    return number
