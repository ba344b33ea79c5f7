"""Brokers of the fault tests' own, on free ports, that a test may kill and restart."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from typing import Protocol

from interlink._embedded import NatsServer, free_port


class OwnBroker(Protocol):
    url: str

    def restart(self) -> None: ...
    def stop(self) -> None: ...


class OwnNats:
    def __init__(self) -> None:
        self.server = NatsServer().start()
        self.url = self.server.url

    def restart(self) -> None:
        self.server.stop()
        time.sleep(0.5)
        self.server.start()

    def stop(self) -> None:
        self.server.cleanup()


class OwnRedis:
    """redis-server with an append-only file fsynced on every write: a restart keeps the streams."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="interlink-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self._start()

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
             "--appendonly", "yes", "--appendfsync", "always"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port)

    def restart(self) -> None:
        self._kill()
        time.sleep(0.5)
        self._start()

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def _wait_port(port: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"broker did not listen on {port}")
