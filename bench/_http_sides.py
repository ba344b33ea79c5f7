"""The sides of the gateway benchmark as running processes, and one timed wrk run against a side.

A side is an HTTP server process (one uvicorn worker; the gateway may have several
on one port) and, for the sides that call a service, the service process behind it on NATS. Every side answers
``GET /echo/hello`` with ``{"echo": "hello"}``; that answer is checked before
any load is sent.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench._wrk import WrkResult, run_wrk

ROOT = Path(__file__).resolve().parent.parent
PATH = "/echo/hello"
EXPECTED = {"echo": "hello"}
START_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Spec:
    key: str
    label: str
    server: str  # the kind of bench._http_servers serving HTTP
    service: str | None  # the kind serving the echo over NATS, if any
    loop: str = "uvloop"
    pythonpath: str | None = None  # where to import interlink from, when not from this checkout
    workers: int = 1  # server processes on the port (SO_REUSEPORT), for the gateway


def workers_sides(workers: int) -> list[Spec]:
    """The bare app and the gateway with ``workers`` processes on their port (one service behind the gateway)."""
    return [Spec(f"hello-w{workers}", f"(a) hello, {workers} workers", "hello", None, workers=workers),
            Spec(f"gateway-w{workers}", f"(b) gateway, {workers} workers", "gateway", "interlink-service",
                 workers=workers)]


HELLO = Spec("hello", "(a) bare ASGI hello", "hello", None)
GATEWAY = Spec("gateway", "(b) interlink gateway", "gateway", "interlink-service")
FASTAPI = Spec("fastapi", "(c) FastAPI + FastStream", "fastapi", "faststream-service")
GATEWAY_ASYNCIO = Spec("gateway-asyncio", "(b) on the asyncio loop", "gateway", "interlink-service", "asyncio")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0.0 when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


@dataclass
class Running:
    """One side's processes, started by :meth:`start` and ended by :meth:`stop`."""

    spec: Spec
    nats_url: str
    prefix: str
    port: int = 0
    processes: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def _spawn(self, kind: str, port: int, *extra: str) -> None:
        log = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the process's life, closed by stop()
        command = [sys.executable, "-m", "bench._http_servers", kind, "--port", str(port),
                   "--nats-url", self.nats_url, "--prefix", self.prefix, "--loop", self.spec.loop, *extra]
        env = {**os.environ, "PYTHONPATH": self.spec.pythonpath} if self.spec.pythonpath else None
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env)
        self.processes.append((process, log))

    def start(self) -> None:
        """Start the service (if any) and the server; launch only, :meth:`wait_ready` waits."""
        self.port = free_port()
        if self.spec.service is not None:
            self._spawn(self.spec.service, 0)
        for _ in range(self.spec.workers):
            self._spawn(self.spec.server, self.port, *(("--reuse-port",) if self.spec.workers > 1 else ()))

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until the side answers ``GET /echo/hello`` correctly; RuntimeError with its output if it never does."""
        end = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < end:
            for process, _ in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{self.spec.label}: a process exited with {process.returncode}:\n"
                                       + self.output())
            try:
                with urllib.request.urlopen(self.url, timeout=5) as answer:
                    body = json.loads(answer.read())
                if body == EXPECTED:
                    return
                last = f"unexpected answer {body!r}"
            except (OSError, urllib.error.URLError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        raise RuntimeError(f"{self.spec.label}: not ready within {timeout:.0f}s ({last}):\n" + self.output())

    def output(self) -> str:
        texts = []
        for _, log in self.processes:
            log.seek(0)
            texts.append(log.read().decode(errors="replace")[-2000:])
        return "\n".join(texts)

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU seconds so far of (the HTTP server's processes, the service)."""
        servers = self.processes[1:] if self.spec.service is not None else self.processes
        service = _cpu_seconds(self.processes[0][0].pid) if self.spec.service is not None else 0.0
        return sum(_cpu_seconds(p.pid) for p, _ in servers), service

    def stop(self) -> None:
        for process, _ in self.processes:
            if process.poll() is None:
                process.terminate()
        for process, log in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            log.close()
        self.processes.clear()


@dataclass(frozen=True, slots=True)
class Run:
    """One timed run: wrk's figures and the CPU the side's processes spent per request."""

    wrk: WrkResult
    server_cpu_us: float  # per request, in the HTTP server process
    service_cpu_us: float  # per request, in the service process (0 for the bare app)

    def to_json(self) -> dict[str, Any]:
        return {**self.wrk.to_json(), "server_cpu_us": self.server_cpu_us, "service_cpu_us": self.service_cpu_us}


def measure(side: Running, *, connections: int, threads: int, warmup: int, seconds: int) -> Run:
    """A warm-up run (discarded), then the timed run."""
    if warmup > 0:
        run_wrk(side.url, connections=connections, threads=threads, seconds=warmup)
    before = side.cpu_seconds()
    result = run_wrk(side.url, connections=connections, threads=threads, seconds=seconds)
    after = side.cpu_seconds()
    per_request = 1e6 / max(result.requests, 1)
    return Run(result, round((after[0] - before[0]) * per_request, 1), round((after[1] - before[1]) * per_request, 1))
