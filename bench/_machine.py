"""The machine, the load on it, the libraries and the broker versions, printed with every table."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
from importlib import metadata
from typing import Any

LIBRARIES = ("interlink", "msgspec", "nats-py", "aio-pika", "redis", "hiredis", "faststream")


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load() -> str:
    with contextlib.suppress(OSError):
        one, five, fifteen = os.getloadavg()
        return f"{one:.2f} {five:.2f} {fifteen:.2f}"
    return "?"


def library_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    return versions


async def broker_version(broker: str, url: str) -> str:
    """The server's own version string, or the reason it could not be read."""
    try:
        if broker == "nats":
            import nats

            nc = await nats.connect(url)
            try:
                return f"nats-server {nc.connected_server_version}"
            finally:
                await nc.close()
        if broker == "rabbitmq":
            import aio_pika

            conn = await aio_pika.connect(url)
            try:
                props = conn.transport.connection.server_properties if conn.transport else {}
                version = props.get("version", b"?")
                return "RabbitMQ " + (version.decode() if isinstance(version, bytes) else str(version))
            finally:
                await conn.close()
        if broker == "redis":
            import redis.asyncio as aioredis

            r = aioredis.from_url(url)
            try:
                info: dict[str, Any] = await r.info("server")
                return f"Redis {info.get('redis_version', '?')}"
            finally:
                await r.aclose()
    except Exception as exc:
        return f"unreachable ({type(exc).__name__}: {exc})"
    return "in-process"


def machine() -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "load_before": load(),
        "libraries": library_versions(),
    }
