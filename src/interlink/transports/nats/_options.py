"""The URL options of ``nats://``, read once when the transport is made.

Options may stand on any of the comma-separated server URLs; the servers are
handed to nats-py without them. User and password (``nats://user:pass@host``)
and a token (``nats://TOKEN@host``) stay in the URL, where nats-py reads them.

=====================  ===================================================================
option                 meaning
=====================  ===================================================================
``retention=DUR``      how long a durable consumer outlives its last member (default 3d)
``replicas=N``         replicas of streams and consumers (default: 3, or every node of a
                       smaller cluster; 1 on a single server)
``max_age=DUR``        age limit of stored sends and events (default 7d; ``none``: no limit)
``max_bytes=SIZE``     size limit of each stream (default 1GiB; ``none``: no limit)
``dead_max_age=DUR``   age limit of dead letters (default 14d)
``storage=KIND``       ``file`` (default) or ``memory``
``tls_ca=PATH``        CA bundle to verify the server with (implies TLS)
``tls_cert=PATH``      client certificate (PEM; with ``tls_key`` unless the key is inside)
``tls_key=PATH``       the client certificate's private key
``tls_hostname=NAME``  the name the server certificate must carry (when connecting by IP)
``creds=PATH``         a ``.creds`` file (user JWT and NKey seed, as ``nsc`` writes it)
``nkey=PATH``          a file holding an NKey user seed (``SU...``)
``envelope=FORM``      how messages carry the envelope: ``frame`` (default, in front of the
                       payload) or ``headers`` (NATS headers, as releases before the frame;
                       for a rolling upgrade, see docs/protocol.md)
=====================  ===================================================================

A duration is seconds, or a number with ``s``, ``m``, ``h`` or ``d``; a size is
bytes, or a number with ``KB``, ``MB``, ``GB``, ``TB`` or ``KiB``, ``MiB``,
``GiB``, ``TiB``. An unknown option, a bad value or a file that cannot be used
is a :class:`~interlink.BrokerError` naming the option, raised when the
transport is made (at ``interlink.connect``).
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from nats.js.api import StorageType

from interlink._errors import BrokerError

DAY = 86_400.0
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY}
_SIZES = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
_FILES = ("tls_ca", "tls_cert", "tls_key", "creds", "nkey")
KNOWN = ("retention", "replicas", "max_age", "max_bytes", "dead_max_age", "storage", "tls_hostname", "envelope",
         *_FILES)
_CREDS_JWT = re.compile(r"-----BEGIN NATS USER JWT-----\s*\n\s*([A-Za-z0-9_\-=]+\.[A-Za-z0-9_\-=]+\.[A-Za-z0-9_\-=]+)")
_CREDS_SEED = re.compile(r"-----BEGIN USER NKEY SEED-----\s*\n\s*(SU[A-Z2-7]+)")


@dataclass(frozen=True)
class Options:
    """What interlink reads from a ``nats://`` URL (see the module docstring)."""

    url: str  # the servers, comma-separated, without interlink's options
    retention: float = 3 * DAY
    replicas: int | None = None  # None: chosen from the cluster's size
    max_age: float = 7 * DAY  # 0: no limit
    max_bytes: int = 1 << 30  # -1: no limit
    dead_max_age: float = 14 * DAY
    storage: StorageType = StorageType.FILE
    tls: ssl.SSLContext | None = None
    tls_hostname: str | None = None
    creds: str | None = None
    nkey: str | None = None
    envelope: str = "frame"  # or "headers"

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for nats-py's ``connect``."""
        options: dict[str, Any] = {"tls": self.tls, "tls_hostname": self.tls_hostname}
        if self.creds:
            options["user_credentials"] = self.creds
        if self.nkey:
            options["nkeys_seed"] = self.nkey
        return options


def parse(url: str, tls: ssl.SSLContext | None = None) -> Options:
    """The options of ``url``; ``tls`` is a context given to ``connect`` (then no ``tls_*`` file option)."""
    from interlink.transports.nats._support import safe_url

    values: dict[str, str] = {}
    servers = []
    for one in url.split(","):
        parts = urlsplit(one.strip())
        query = parse_qsl(parts.query, keep_blank_values=True)
        for key, value in query:
            if key not in KNOWN:
                raise BrokerError(f"{safe_url(one.strip())}: unknown option {key!r} (known: {', '.join(KNOWN)})")
            values[key] = value
        servers.append(urlunsplit(parts._replace(query=urlencode([]))))
    try:
        return _read(",".join(servers), values, tls)
    except BrokerError as exc:
        raise BrokerError(f"{safe_url(servers[0])}: {exc}") from None


def _read(servers: str, values: dict[str, str], tls: ssl.SSLContext | None) -> Options:
    options: dict[str, Any] = {"url": servers}
    for key in ("retention", "max_age", "dead_max_age"):
        if key in values:
            options[key] = duration(key, values[key], allow_none=key != "retention")
    if "max_bytes" in values:
        options["max_bytes"] = size("max_bytes", values["max_bytes"])
    if "replicas" in values:
        options["replicas"] = replicas(values["replicas"])
    if "storage" in values:
        kind = values["storage"].lower()
        if kind not in ("file", "memory"):
            raise BrokerError(f"storage={values['storage']!r} must be 'file' or 'memory'")
        options["storage"] = StorageType(kind)
    if "envelope" in values:
        if values["envelope"] not in ("frame", "headers"):
            raise BrokerError(f"envelope={values['envelope']!r} must be 'frame' or 'headers'")
        options["envelope"] = values["envelope"]
    for key in _FILES:
        if key in values:
            readable(key, values[key])
    if "creds" in values and "nkey" in values:
        raise BrokerError("give either creds= or nkey=, not both")
    if "creds" in values:
        check_creds(values["creds"])
        options["creds"] = values["creds"]
    if "nkey" in values:
        check_seed(f"nkey={values['nkey']!r}", Path(values["nkey"]).read_text(errors="replace").strip())
        options["nkey"] = values["nkey"]
    options["tls"] = tls_context(values, tls)
    options["tls_hostname"] = values.get("tls_hostname") or None
    return Options(**options)


def duration(key: str, text: str, *, allow_none: bool = False) -> float:
    if allow_none and text.lower() == "none":
        return 0.0
    match = _NUMBER.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in ("", *_UNITS) or float(match.group(1)) <= 0:
        hint = " or 'none'" if allow_none else ""
        raise BrokerError(f"{key}={text!r} must be a positive duration such as 90, 30m, 12h or 7d{hint}")
    return float(match.group(1)) * _UNITS.get(unit, 1.0)


def size(key: str, text: str) -> int:
    if text.lower() == "none":
        return -1
    match = _NUMBER.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZES or float(match.group(1)) <= 0:
        raise BrokerError(f"{key}={text!r} must be a positive size such as 1048576, 512MiB or 1GiB, or 'none'")
    return int(float(match.group(1)) * _SIZES[unit])


def replicas(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 5:
        raise BrokerError(f"replicas={text!r} must be a whole number from 1 to 5 (JetStream's limit)")
    return int(text)


def readable(key: str, path: str) -> None:
    try:
        with open(path, "rb") as file:
            file.read(1)
    except OSError as exc:
        raise BrokerError(f"{key}={path!r} cannot be read: {exc.strerror or exc}") from None


def check_seed(what: str, seed: str) -> None:
    """A user NKey seed that nkeys accepts (the seed itself is never shown); ``what`` names its option."""
    import nkeys  # type: ignore[import-untyped]  # nats-py's own dependency for NKey auth

    if not seed.startswith("SU"):
        raise BrokerError(f"{what} does not hold an NKey user seed (one line starting with 'SU')")
    try:
        nkeys.from_seed(seed.encode())
    except Exception:  # nkeys raises its own errors and binascii's for a bad seed
        raise BrokerError(f"{what} holds a malformed NKey seed") from None


def check_creds(path: str) -> None:
    text = Path(path).read_text(errors="replace")
    if _CREDS_JWT.search(text) is None:
        raise BrokerError(f"creds={path!r} is not a .creds file: no '-----BEGIN NATS USER JWT-----' block")
    seed = _CREDS_SEED.search(text)
    if seed is None:
        raise BrokerError(f"creds={path!r} is not a .creds file: no '-----BEGIN USER NKEY SEED-----' block")
    check_seed(f"creds={path!r}", seed.group(1))


def tls_context(values: dict[str, str], given: ssl.SSLContext | None) -> ssl.SSLContext | None:
    files = [key for key in ("tls_ca", "tls_cert", "tls_key") if key in values]
    if given is not None:
        if files:
            raise BrokerError(f"give TLS either as connect(tls=...) or as URL options, not both ({files[0]}=)")
        return given
    if not files:
        return None
    if "tls_key" in values and "tls_cert" not in values:
        raise BrokerError("tls_key= needs tls_cert=")
    try:
        context = ssl.create_default_context(cafile=values.get("tls_ca"))
    except (ssl.SSLError, ValueError) as exc:
        raise BrokerError(f"tls_ca={values['tls_ca']!r} holds no usable certificate: {exc}") from None
    if "tls_cert" in values:
        try:
            context.load_cert_chain(values["tls_cert"], values.get("tls_key"))
        except (ssl.SSLError, ValueError) as exc:
            raise BrokerError(f"tls_cert={values['tls_cert']!r} / tls_key=: not a certificate and its key: "
                              f"{exc}") from None
    return context
