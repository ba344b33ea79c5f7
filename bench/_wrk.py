"""wrk, the HTTP load generator, run outside the Python process, and its report parsed.

    result = run_wrk("http://127.0.0.1:8000/echo/x", connections=64, threads=2, seconds=10)
    result.rate, result.p50_ms, result.p99_ms, result.errors, result.non_2xx

wrk's ``--latency`` distribution gives the percentiles (p50 and p99 of every
request of the run, as wrk's own histogram records them).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

INSTALL = "apt-get install -y wrk"
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.MULTILINE)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


class WrkMissing(RuntimeError):
    def __init__(self) -> None:
        super().__init__(f"wrk is not installed; install it with: {INSTALL}")


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors: connect, read, write and timeouts
    non_2xx: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing
    return path


def version() -> str:
    done = subprocess.run([wrk_path(), "-v"], capture_output=True, text=True, check=False, timeout=10)
    return (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr).strip() else "wrk"


def run_wrk(url: str, *, connections: int, threads: int, seconds: int, timeout: int = 5) -> WrkResult:
    """One run of wrk against ``url``; raises RuntimeError when wrk fails or its report is unreadable."""
    command = [wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout}s",
               "--latency", url]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return parse(done.stdout)


def parse(report: str) -> WrkResult:
    """The figures of wrk's text report (with ``--latency``)."""
    rate, total = _RATE.search(report), _REQUESTS.search(report)
    percentiles = {int(p): float(v) * _UNITS_MS[u] for p, v, u in _PERCENTILE.findall(report)}
    if rate is None or total is None or set(percentiles) != {50, 99}:
        raise RuntimeError(f"cannot read wrk's report:\n{report}")
    socket = _SOCKET.search(report)
    non_2xx = _NON_2XX.search(report)
    return WrkResult(
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * _UNITS_MS[total.group(3)] / 1000.0,
        rate=float(rate.group(1)),
        p50_ms=percentiles[50],
        p99_ms=percentiles[99],
        errors=sum(int(n) for n in socket.groups()) if socket else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )
