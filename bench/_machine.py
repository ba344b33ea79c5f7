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


BROKER_PROCESSES = ("nats-server", "beam.smp", "redis-server")


def _jiffies(pid: str) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _broker_jiffies(pid: str) -> int:
    """CPU ticks of ``pid`` if it is a broker process, else 0 (also when it just exited)."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return _jiffies(pid) if f.read().strip() in BROKER_PROCESSES else 0
    except (OSError, ValueError, IndexError):
        return 0


def cpu_snapshot() -> tuple[int, int, int, int] | None:
    """(busy, total, this process, broker processes) in clock ticks since boot, or None off Linux."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]
        brokers = 0
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                brokers += _broker_jiffies(pid)
        return sum(values) - idle, sum(values), _jiffies("self"), brokers
    except (OSError, ValueError, IndexError):
        return None


def cpu_share(before: tuple[int, int, int, int] | None, after: tuple[int, int, int, int] | None) -> dict[str, float]:
    """Shares of the machine's CPU capacity (all cores) between two snapshots, in percent."""
    if before is None or after is None or after[1] <= before[1]:
        return {}
    total = after[1] - before[1]
    busy, own, brokers = (after[i] - before[i] for i in (0, 2, 3))

    def pct(ticks: int) -> float:
        return round(100.0 * ticks / total, 1)

    return {"busy": pct(busy), "bench": pct(own), "brokers": pct(brokers),
            "other": pct(max(0, busy - own - brokers))}


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
